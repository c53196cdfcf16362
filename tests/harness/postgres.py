"""A PostgreSQL server on 127.0.0.1 for Airflow's metadata database, that tests can restart.

It runs Debian's ``postgresql`` binaries (installed on first use, like every part of the harness)
in a temporary cluster, as an unprivileged user when the tests run as root (PostgreSQL refuses
root). :meth:`PostgresServer.stop_server` and :meth:`start_server` take it down and bring it back
on the same port with the same data, as a database restart in a cluster does.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.harness.processes import NOBODY, ManagedProcess, as_nobody, free_port

DATABASE = "airflow"


def bindir() -> Path | None:
    """The newest installed PostgreSQL's ``bin`` folder (Debian keeps one per major version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """One cluster with database :data:`DATABASE`; :attr:`url` is SQLAlchemy's URL for it."""

    def __init__(self) -> None:
        from tests.harness.prerequisites import require

        require("postgresql")
        found = bindir()
        assert found is not None, "postgresql is installed but no /usr/lib/postgresql/*/bin/postgres"
        self.bin = found
        self.as_root = os.geteuid() == 0
        self.base = Path(tempfile.mkdtemp(prefix="app-postgres-"))
        self.base.chmod(0o755)
        self.data = self.base / "data"
        self.port = free_port()
        self.process: ManagedProcess | None = None
        if self.as_root:
            os.chown(self.base, NOBODY, NOBODY)
        self._run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", "airflow", "--auth=trust", "-E", "UTF8"]
        )
        self.start_server()
        self._run(
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "airflow", DATABASE]
        )
        self.url = f"postgresql+psycopg2://airflow@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, argv: list[str]) -> None:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.base,
            preexec_fn=as_nobody if self.as_root else None,
        )
        if result.returncode:
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {result.stderr[-2000:]}")

    def start_server(self, timeout: float = 60) -> None:
        """Start the server (again) on :attr:`port` and wait until it accepts connections."""
        argv = [
            str(self.bin / "postgres"),
            "-D", str(self.data),
            "-h", "127.0.0.1",
            "-p", str(self.port),
            "-k", str(self.base),
            "-c", "max_connections=200",
            "-c", "fsync=off",
        ]  # fmt: skip
        self.process = ManagedProcess(
            argv, self.base / "server.log", cwd=self.base, preexec=as_nobody if self.as_root else None
        )
        ready = [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "airflow"]
        deadline = time.monotonic() + timeout
        while subprocess.run(ready, capture_output=True, timeout=30).returncode != 0:
            if not self.process.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start:\n{self.process.log_text()[-3000:]}")
            time.sleep(0.1)

    def stop_server(self) -> None:
        """Stop the server (a fast shutdown: open connections are cut, as in a restart)."""
        if self.process is not None:
            self.process.stop(signal.SIGINT, timeout=30)
            self.process = None

    def restart(self, down_for: float = 0.0) -> None:
        """Stop, stay down ``down_for`` seconds, start again."""
        self.stop_server()
        if down_for:
            time.sleep(down_for)  # the length of the outage is the scenario's input
        self.start_server()

    def stop(self) -> None:
        self.stop_server()
        shutil.rmtree(self.base, ignore_errors=True)
