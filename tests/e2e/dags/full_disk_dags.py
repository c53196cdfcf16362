"""A task that writes more log than its log folder's disk holds, and one that runs after it."""

from __future__ import annotations

import datetime
import logging

from airflow.sdk import dag, task

LINES = 3000


@dag(schedule=None, start_date=datetime.datetime(2026, 1, 1), catchup=False)
def disk_filler() -> None:
    @task
    def talk() -> int:
        log = logging.getLogger("airflow.task")
        for n in range(LINES):
            log.info("fill-%05d %s", n, "x" * 300)
        return LINES

    @task
    def after(lines: int) -> None:
        logging.getLogger("airflow.task").info("after %s lines", lines)

    after(talk())  # type: ignore[arg-type]


disk_filler()
