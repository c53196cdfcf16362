"""Azurite, Microsoft's Azure Storage emulator from npm: a real Blob service endpoint on 127.0.0.1."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.harness.faultproxy import UploadPayloadCounter
from tests.harness.prerequisites import npm_binary, require
from tests.harness.processes import ManagedProcess, free_port, wait_http

# Azurite's well-known development account (published in its documentation; not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def connection_string(endpoint: str, key: str = ACCOUNT_KEY) -> str:
    """A connection string for the development account at ``endpoint`` (``http://127.0.0.1:port``)."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
        f"BlobEndpoint={endpoint}/{ACCOUNT};"
    )


class Azurite:
    """One ``azurite-blob`` process: blob service only, in memory, on a free port."""

    def __init__(self, workdir: Path, *, port: int | None = None) -> None:
        require("azurite")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        folder = workdir / f"azurite-{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            [
                str(npm_binary("azurite-blob")),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.port),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--silent",
            ],
            workdir / f"azurite-{self.port}.log",
            cwd=folder,
        )
        # Any HTTP answer (an unauthenticated request gets 403) means the service listens.
        wait_http(f"{self.url}/{ACCOUNT}?comp=list", proc=self.process, timeout=60)

    def connection_string(self, endpoint: str | None = None) -> str:
        return connection_string(endpoint or self.url)

    def client(self) -> Any:
        """A plain ``BlobServiceClient`` for the development account."""
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string())

    def stop(self) -> None:
        # Azurite ignores SIGTERM; on SIGINT it waits for idle keep-alive connections, so not long.
        self.process.stop(signal.SIGINT, timeout=2)


class BlobUploadCounter(UploadPayloadCounter):
    """Counts the blob bytes of Put Blob and Put Block requests per blob name (Put Block List carries
    only block ids and is not counted)."""

    def _finish(self) -> None:
        assert self._head is not None
        method, target = ([*self._head.split(b"\r\n", 1)[0].split(b" "), b"", b""])[:2]
        parts = urlsplit(target.decode())
        query = parse_qs(parts.query)
        blocklist = query.get("comp", [""])[0] == "blocklist"
        if method == b"PUT" and target.startswith(self.upload_path) and not blocklist and self._body:
            self._add(unquote(parts.path[len(self.upload_path) :]), len(self._body))
        self._head = None
