"""Contract tests: the private client APIs this package relies on are where it expects them."""
