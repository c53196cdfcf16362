"""Remote task logs: shipped while the task runs, read back as bounded-memory streams."""
