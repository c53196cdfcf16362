"""moto server: a real S3 (and STS, KMS) HTTP endpoint on 127.0.0.1."""

from __future__ import annotations

import shutil
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.harness.processes import ManagedProcess, free_port, wait_http

REGION = "us-east-1"
ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"


class MotoServer:
    """One ``moto_server`` process; ``client()`` gives boto3 clients pointed at it."""

    def __init__(self, workdir: Path, *, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
        import os

        self.process = ManagedProcess(
            [exe, "-H", "127.0.0.1", "-p", str(self.port)],
            workdir / f"moto-{self.port}.log",
            env={**os.environ, **(env or {})},
        )
        wait_http(f"{self.url}/moto-api/", proc=self.process, timeout=30)

    def client(self, service: str = "s3", **kwargs: Any) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=kwargs.pop("access_key", ACCESS_KEY),
            aws_secret_access_key=kwargs.pop("secret_key", SECRET_KEY),
            **kwargs,
        )

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def connection(self, endpoint: str | None = None, **extra: Any) -> dict[str, Any]:
        """An Airflow AWS connection (JSON form) for this server."""
        return {
            "conn_type": "aws",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": {"endpoint_url": endpoint or self.url, "region_name": REGION, **extra},
        }

    def stop(self) -> None:
        self.process.stop()
