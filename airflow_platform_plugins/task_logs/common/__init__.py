"""Infrastructure every task-log backend shares: follow files, report, retry, settings."""
