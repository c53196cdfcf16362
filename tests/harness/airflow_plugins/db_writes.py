"""Test-only Airflow plugin: logs every SQL write statement a process executes.

Copied into a test deployment's plugins folder. In a process whose environment has
``TEST_DB_WRITES_LOG`` (the tests give it to the api-server only), each INSERT, UPDATE or DELETE is
appended to that file as ``<pid> <verb> <table>``, so a test can count the writes its requests
caused, across all api-server worker processes, independently of the code under test.
"""

from __future__ import annotations

import os
import re

from airflow.plugins_manager import AirflowPlugin

_TARGET = re.compile(
    r"^\s*(INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+[\"`]?(\w+)", re.I
)
LOG = os.environ.get("TEST_DB_WRITES_LOG")

if LOG:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "before_cursor_execute")
    def _log_write(conn, cursor, statement, parameters, context, executemany):
        match = _TARGET.match(statement)
        if match:
            verb = match.group(1).split()[0].upper()
            line = f"{os.getpid()} {verb} {match.group(2)}\n"
            fd = os.open(str(LOG), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)


class DbWritesPlugin(AirflowPlugin):
    name = "test_db_writes"
