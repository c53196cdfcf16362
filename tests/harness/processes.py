"""Start a server as its own process group on loopback, wait until it answers, stop it completely."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    # If the test run itself is killed, the server gets SIGTERM instead of living on.
    ctypes.CDLL("libc.so.6").prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


NOBODY = 65534
"""The unprivileged user servers that refuse root (Elasticsearch, PostgreSQL) run as."""


def as_nobody() -> None:
    """``preexec`` for a server that refuses root: drop to :data:`NOBODY`."""
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    _die_with_parent()  # changing credentials cleared the parent-death signal: set it again


class ManagedProcess:
    """A child process in its own session, logging to a file."""

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)

        def setup() -> None:
            _die_with_parent()
            if preexec is not None:
                preexec()

        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=setup,
            )

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Signal the whole process group, wait for every member to exit, SIGKILL what is left."""
        pgid = self.proc.pid
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            self.proc.wait()
            return
        deadline = time.monotonic() + timeout
        killed = False
        while True:
            self.proc.poll()
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            if time.monotonic() > deadline:
                if killed:
                    break
                os.killpg(pgid, signal.SIGKILL)
                killed, deadline = True, time.monotonic() + 5
            time.sleep(0.1)
        self.proc.wait()


def wait_http(
    url: str,
    *,
    proc: ManagedProcess | None = None,
    timeout: float = 30.0,
    ok: Callable[[int], bool] = lambda status: True,
) -> None:
    """Wait until ``url`` answers with a status that ``ok`` accepts; raise with the log if it never does."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(
                f"{proc.argv[0]} exited with {proc.proc.returncode}; log:\n{proc.log_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if ok(response.status):
                    return
                last = response.status
        except urllib.error.HTTPError as exc:
            if ok(exc.code):
                return
            last = exc.code
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    tail = proc.log_text()[-3000:] if proc is not None else ""
    raise TimeoutError(f"{url} did not become ready ({last}); log:\n{tail}")
