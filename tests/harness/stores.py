"""Real object-store servers behind one small interface, so the end-to-end tests run once per backend.

Workers reach the store through a :class:`FaultProxy` (tests cut it to simulate an outage); the
api-server reaches it directly.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from tests.harness.azurite import ACCOUNT, ACCOUNT_KEY, Azurite, BlobUploadCounter, connection_string
from tests.harness.faultproxy import FaultProxy, UploadPayloadCounter
from tests.harness.gcs import FakeGCSServer
from tests.harness.moto import MotoServer
from tests.harness.processes import free_port

CONN_ID = "remote_logs"
_CHUNK_RE = re.compile(r"/([A-Za-z0-9._-]+)/(\d{16})-(\d{16})$")


class StoreServer(Protocol):
    name: str
    remote_base: str
    prefix: str

    def settings(self) -> dict[str, str]: ...
    def connection(self) -> dict[str, Any] | None: ...
    def objects(self, prefix: str) -> list[tuple[str, int]]: ...
    def read(self, key: str) -> bytes: ...
    def put(self, key: str, data: bytes) -> None: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def bytes_written(self, prefix: str) -> int: ...
    def outage(self) -> contextlib.AbstractContextManager[None]: ...
    def missing_bucket_settings(self) -> dict[str, str]: ...

    missing_bucket_setting: str

    def bad_credentials_settings(self) -> dict[str, str]: ...
    def url(self, key: str) -> str: ...
    def package_store(self) -> Any: ...
    def stop(self) -> None: ...


def settings(
    remote_base: str, connection: dict[str, Any] | None = None, conn_id: str = CONN_ID
) -> dict[str, str]:
    """Airflow settings for remote logs; ``connection`` is put in the environment (it then wins over
    a connection of the same id in the metadata database)."""
    out = {
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": remote_base,
        "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": conn_id,
    }
    if connection:
        out[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(connection)
    return out


class _BehindProxy:
    """A server the Airflow components reach through ``self.proxy``."""

    proxy: FaultProxy

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """The store is unreachable inside the block (connections refused and cut)."""
        self.proxy.down()
        try:
            yield
        finally:
            self.proxy.up()


class S3Server(_BehindProxy):
    """moto server with a versioned bucket (so every byte ever written can be counted)."""

    name = "s3"
    bucket = "airflow-logs"
    prefix = "logs"
    missing_bucket_setting = "[logging] remote_base_log_folder"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.moto = MotoServer(workdir)
        self.proxy = FaultProxy(self.moto.port)
        self.client = self.moto.client()
        self.client.create_bucket(Bucket=self.bucket)
        self.client.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        self.remote_base = f"s3://{self.bucket}/{self.prefix}"
        self._strict: MotoServer | None = None

    def settings(self) -> dict[str, str]:
        return settings(self.remote_base)

    def connection(self) -> dict[str, Any]:
        """The connection to store in Airflow's database: through the cuttable proxy."""
        return self.moto.connection(endpoint=self.proxy.url)

    def objects(self, prefix: str) -> list[tuple[str, int]]:
        out = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            out += [(item["Key"], int(item["Size"])) for item in page.get("Contents", ())]
        return out

    def read(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def delete_prefix(self, prefix: str) -> None:
        paginator = self.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                self.client.delete_object(Bucket=self.bucket, Key=item["Key"], VersionId=item["VersionId"])

    def bytes_written(self, prefix: str) -> int:
        """Bytes of every version ever stored under ``prefix`` (overwrites count twice)."""
        total = 0
        for page in self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            total += sum(int(v["Size"]) for v in page.get("Versions", []))
        return total

    def missing_bucket_settings(self) -> dict[str, str]:
        return settings("s3://no-such-bucket-here/logs")

    def bad_credentials_settings(self) -> dict[str, str]:
        """A server that checks credentials (moto with authentication on) and keys it does not know."""
        if self._strict is None:
            self._strict = MotoServer(self.workdir, env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
        connection = self._strict.connection()
        connection["login"], connection["password"] = "AKIAUNKNOWNKEY000000", "wrong-secret"
        return settings(self.remote_base, connection)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def package_store(self) -> Any:
        """This package's S3 adapter, configured the way the api-server configures it."""
        from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
        from airflow_platform_plugins.task_logs.objectstore.s3 import S3Store, build_client

        conn = self.moto.connection()
        fields = ConnectionFields(
            CONN_ID, login=conn["login"], password=conn["password"], extra=conn["extra"]
        )
        return S3Store(build_client(fields), self.bucket, self.prefix)

    def stop(self) -> None:
        self.proxy.close()
        if self._strict is not None:
            self._strict.stop()
        self.moto.stop()


class GCSServer(_BehindProxy):
    """fake-gcs-server behind a cuttable proxy. Airflow uses no connection: the client library's
    ``STORAGE_EMULATOR_HOST`` and anonymous credentials stand in for Workload Identity. fake-gcs-server
    keeps no object versions, so the proxy counts the bytes of every upload instead."""

    name = "gcs"
    bucket = "airflow-logs"
    prefix = "logs"
    missing_bucket_setting = "[logging] remote_base_log_folder"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        server_port = free_port()
        self.uploads = UploadPayloadCounter()
        self.proxy = FaultProxy(server_port, counter=self.uploads)
        self.server = FakeGCSServer(workdir, port=server_port, external_url=self.proxy.url)
        self.client = self.server.client()
        self.client.create_bucket(self.bucket)
        self.remote_base = f"gs://{self.bucket}/{self.prefix}"

    def settings(self) -> dict[str, str]:
        return {**settings(self.remote_base, conn_id=""), "STORAGE_EMULATOR_HOST": self.proxy.url}

    def connection(self) -> dict[str, Any] | None:
        return None

    def objects(self, prefix: str) -> list[tuple[str, int]]:
        return [(b.name, int(b.size)) for b in self.client.list_blobs(self.bucket, prefix=prefix)]

    def read(self, key: str) -> bytes:
        return bytes(self.client.bucket(self.bucket).blob(key).download_as_bytes())

    def put(self, key: str, data: bytes) -> None:
        self.client.bucket(self.bucket).blob(key).upload_from_string(data)

    def delete_prefix(self, prefix: str) -> None:
        for blob in self.client.list_blobs(self.bucket, prefix=prefix):
            blob.delete()

    def bytes_written(self, prefix: str) -> int:
        """Object bytes of every upload that went through the proxy for ``prefix``."""
        return self.uploads.bytes_for(prefix)

    def missing_bucket_settings(self) -> dict[str, str]:
        return {"AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": "gs://no-such-bucket-here/logs"}

    def bad_credentials_settings(self) -> dict[str, str]:
        """A service-account key whose token endpoint refuses connections: the client cannot get a token."""
        connection = {
            "conn_type": "google_cloud_platform",
            "extra": {"keyfile_dict": json.dumps(service_account_key())},
        }
        return settings(self.remote_base, connection)

    def url(self, key: str) -> str:
        return f"gs://{self.bucket}/{key}"

    def package_store(self) -> Any:
        from airflow_platform_plugins.task_logs.objectstore.gcs import GCSStore

        return GCSStore(self.server.client, self.bucket, self.prefix)

    def stop(self) -> None:
        self.proxy.close()
        self.server.stop()


class AzureServer(_BehindProxy):
    """Azurite (blob service) behind a cuttable proxy; the wasb connection, in Airflow's database,
    holds a connection string for the proxy. Azurite keeps no blob versions, so the proxy counts the
    bytes of every Put Blob and Put Block instead."""

    name = "azure"
    container = "airflow-logs"
    prefix = "logs"
    remote_base = "wasb://logs"
    missing_bucket_setting = "[azure_remote_logging] remote_wasb_log_container"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.server = Azurite(workdir)
        self.uploads = BlobUploadCounter(f"/{ACCOUNT}/{self.container}/".encode())
        self.proxy = FaultProxy(self.server.port, counter=self.uploads)
        self.client = self.server.client()
        self.client.create_container(self.container)
        self._container = self.client.get_container_client(self.container)

    def settings(self) -> dict[str, str]:
        return {
            **settings(self.remote_base),
            "AIRFLOW__AZURE_REMOTE_LOGGING__REMOTE_WASB_LOG_CONTAINER": self.container,
        }

    def connection(self) -> dict[str, Any]:
        return {"conn_type": "wasb", "extra": {"connection_string": connection_string(self.proxy.url)}}

    def objects(self, prefix: str) -> list[tuple[str, int]]:
        return [(b.name, int(b.size)) for b in self._container.list_blobs(name_starts_with=prefix)]

    def read(self, key: str) -> bytes:
        return bytes(self._container.download_blob(key).readall())

    def put(self, key: str, data: bytes) -> None:
        self._container.upload_blob(key, data, overwrite=True)

    def delete_prefix(self, prefix: str) -> None:
        for name in [b.name for b in self._container.list_blobs(name_starts_with=prefix)]:
            self._container.delete_blob(name)

    def bytes_written(self, prefix: str) -> int:
        """Blob bytes of every upload that went through the proxy for ``prefix``."""
        return self.uploads.bytes_for(prefix)

    def missing_bucket_settings(self) -> dict[str, str]:
        return {"AIRFLOW__AZURE_REMOTE_LOGGING__REMOTE_WASB_LOG_CONTAINER": "no-such-container"}

    def bad_credentials_settings(self) -> dict[str, str]:
        """The right account with a wrong key: Azurite checks the Shared Key signature and refuses."""
        wrong = connection_string(self.proxy.url, key=ACCOUNT_KEY[:-8] + "AAAAAA==")
        return settings(self.remote_base, {"conn_type": "wasb", "extra": {"connection_string": wrong}})

    def url(self, key: str) -> str:
        return f"wasb://{self.container}/{key}"

    def package_store(self) -> Any:
        from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
        from airflow_platform_plugins.task_logs.objectstore.azure import AzureBlobStore
        from airflow_platform_plugins.task_logs.objectstore.azure_auth import build_service_client

        fields = ConnectionFields(CONN_ID, extra={"connection_string": self.server.connection_string()})
        return AzureBlobStore(lambda: build_service_client(fields), self.container, self.prefix)

    def stop(self) -> None:
        self.proxy.close()
        self.server.stop()


def service_account_key() -> dict[str, str]:
    """A well-formed service-account key (fresh RSA key) whose token endpoint is a closed local port."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "test-key",
        "private_key": pem,
        "client_email": "logs@test-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"http://127.0.0.1:{free_port()}/token",
    }


def stored_stream_bytes(store: StoreServer, log_prefix: str) -> dict[str, bytes]:
    """The bytes of each chunk stream under ``log_prefix``, read independently of the package's reader.

    Asserts that each stream's objects cover it from byte 0 without a gap. Where a covering object
    (a merge of consecutive chunks) and its sources are both stored, the covering object is read;
    otherwise no byte may be stored twice.
    """
    streams: dict[str, list[tuple[int, int, str]]] = {}
    for key, size in store.objects(log_prefix + "/"):
        match = _CHUNK_RE.search(key)
        assert match, f"unexpected object {key}"
        start, end = int(match[2]), int(match[3])
        assert end - start == size, key
        streams.setdefault(key[: match.start()] + "/" + match[1], []).append((start, end, key))
    out = {}
    for name, chunks in streams.items():
        position, data = 0, bytearray()
        while True:
            here = [c for c in chunks if c[0] <= position < c[1]]
            if not here:
                assert all(c[1] <= position for c in chunks), f"{name}: gap at {position}"
                break
            start, end, key = max(here, key=lambda c: c[1])
            assert start == position, f"{name}: object {key} overlaps part of another"
            data += store.read(key)
            position = end
        out[name] = bytes(data)
    return out
