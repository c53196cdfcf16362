"""``tox -e bench``: this package against the providers' handlers and the plain clients, side by side."""
