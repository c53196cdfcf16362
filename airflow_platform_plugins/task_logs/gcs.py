"""Google Cloud Storage task logs: the google-cloud-storage adapter for the shared shipping core."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from airflow_platform_plugins import options
from airflow_platform_plugins.options import ConfigError
from airflow_platform_plugins.task_logs.connections import ConnectionFields
from airflow_platform_plugins.task_logs.remote_io import ObjectStoreRemoteLogIO
from airflow_platform_plugins.task_logs.settings import common_settings
from airflow_platform_plugins.task_logs.store import FileRange, ObjectInfo, StoreError

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$")
_TIMEOUT = (5.0, 60.0)
_READ_STEP = 4 << 20
# The client buffers a whole request body: resumable uploads (objects over 8 MiB) go in pieces of
# this size, and at most this many uploads run at once, so memory stays bounded.
_UPLOAD_PIECE = 4 << 20
_UPLOAD_SLOTS = 4
_CREDENTIALS_SETTING = (
    f"{options.REMOTE_LOG_CONN_ID.name}, {options.GOOGLE_KEY_PATH.name} or Application Default Credentials"
)


def parse_gcs_url(url: str) -> tuple[str, str]:
    """Split ``gs://bucket/prefix``; raise :class:`ConfigError` naming the setting if malformed."""
    parts = urlsplit(url)
    if parts.scheme != "gs" or not _BUCKET_RE.match(parts.netloc):
        raise ConfigError(
            f"{options.REMOTE_BASE_LOG_FOLDER.name} must look like gs://bucket/prefix, got {url!r}"
        )
    return parts.netloc, parts.path.strip("/")


def translate_error(exc: Exception) -> StoreError:
    """Turn a google-cloud exception into a :class:`StoreError` that names what to fix."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    if isinstance(exc, gexc.RetryError) and isinstance(exc.cause, Exception):
        exc = exc.cause
    if isinstance(exc, auth_exc.GoogleAuthError):
        return StoreError(
            f"no usable Google credentials: {exc}", permanent=True, setting=_CREDENTIALS_SETTING
        )
    if isinstance(exc, gexc.Unauthorized | gexc.Forbidden):
        return StoreError(
            f"credentials were refused: {exc.message}", permanent=True, setting=_CREDENTIALS_SETTING
        )
    if isinstance(exc, gexc.NotFound):
        return StoreError(
            f"not found: {exc.message}", permanent=True, setting=options.REMOTE_BASE_LOG_FOLDER.name
        )
    if isinstance(exc, gexc.GoogleAPICallError):
        return StoreError(f"GCS error {exc.code}: {exc.message}")
    return StoreError(f"cannot reach GCS: {exc!r}")


def _key_info(fields: ConnectionFields | None, key_path: str) -> tuple[Any, str | None]:
    """Service-account info and project from a connection (the google provider's extras) or a key file."""
    extra = fields.extra if fields else {}

    def get(name: str) -> Any:
        return extra.get(name) or extra.get(f"extra__google_cloud_platform__{name}")

    keyfile = get("keyfile_dict")
    path = get("key_path") or key_path
    if keyfile:
        info = json.loads(keyfile) if isinstance(keyfile, str) else keyfile
        return info, get("project") or info.get("project_id")
    if path:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
        return info, get("project") or info.get("project_id")
    return None, get("project")


def build_client(fields: ConnectionFields | None, key_path: str = "") -> Any:
    """A ``google.cloud.storage.Client`` with the first credentials found.

    In order: the connection's key (``keyfile_dict``/``key_path``, the google provider's extras), then
    ``[logging] google_key_path``, then Application Default Credentials (Workload Identity).
    ``STORAGE_EMULATOR_HOST`` is honoured by the client library itself.
    """
    from google.cloud import storage

    info, project = _key_info(fields, key_path)
    if info is not None:
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=["https://www.googleapis.com/auth/devstorage.read_write"]
        )
        return storage.Client(project=project, credentials=credentials)
    return storage.Client(project=project)


def _read_retry() -> Any:
    """The client's default retry for reads, bounded to a few seconds (its default is two minutes)."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(5.0)


class GCSStore:
    """:class:`~airflow_platform_plugins.task_logs.store.ObjectStore` on google-cloud-storage.

    The client is created on first use (Application Default Credentials may query the metadata
    server, which must not happen on the task supervisor's loop).
    """

    def __init__(self, make_client: Any, bucket: str, prefix: str) -> None:
        self._make_client = make_client
        self._client: Any = None
        self._lock = threading.Lock()
        self.bucket_name = bucket
        self.prefix = prefix
        self.upload_slots = _UPLOAD_SLOTS

    def _bucket(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    self._client = self._make_client()
                except Exception as exc:
                    raise translate_error(exc) from None
            return self._client.bucket(self.bucket_name)

    def url(self, key: str) -> str:
        """``gs://bucket/key``."""
        return f"gs://{self.bucket_name}/{key}"

    def put_new(self, key: str, body: FileRange) -> None:
        """Upload with ``if_generation_match=0``: an existing object already holds these bytes."""
        from google.api_core.exceptions import PreconditionFailed

        blob = self._bucket().blob(key, chunk_size=_UPLOAD_PIECE)
        try:
            with body.open() as stream:
                blob.upload_from_file(
                    stream,
                    size=body.length,
                    if_generation_match=0,
                    retry=None,
                    timeout=_TIMEOUT,
                    rewind=False,
                )
        except PreconditionFailed:
            return
        except StoreError:
            raise
        except Exception as exc:
            raise translate_error(exc) from None

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """All objects under ``prefix``, in name order."""
        bucket = self._bucket()
        try:
            # No client-side retry: the shipper retries with its own backoff, the reader reports.
            for blob in bucket.client.list_blobs(bucket, prefix=prefix, timeout=_TIMEOUT, retry=None):
                yield ObjectInfo(blob.name, int(blob.size or 0))
        except Exception as exc:
            raise translate_error(exc) from None

    def get(self, key: str, start: int, length: int) -> bytes:
        """Ranged download into memory."""
        try:
            return bytes(
                self._bucket()
                .blob(key)
                .download_as_bytes(
                    start=start, end=start + length - 1, checksum=None, timeout=_TIMEOUT, retry=_read_retry()
                )
            )
        except StoreError:
            raise
        except Exception as exc:
            raise translate_error(exc) from None

    def iter_bytes(self, key: str, start: int, length: int) -> Iterator[bytes]:
        """Ranged downloads of 4 MiB, handed out in 1 MiB blocks."""
        for offset in range(start, start + length, _READ_STEP):
            data = self.get(key, offset, min(_READ_STEP, start + length - offset))
            for i in range(0, len(data), 1 << 20):
                yield data[i : i + (1 << 20)]


class GCSRemoteLogIO(ObjectStoreRemoteLogIO):
    """Task logs in GCS: ``[logging] remote_base_log_folder = gs://bucket/prefix``."""

    @classmethod
    def from_config(cls, conf: Any = None) -> GCSRemoteLogIO:
        """Build from Airflow's configuration; raise :class:`ConfigError` naming a bad setting."""
        if conf is None:
            from airflow.configuration import conf
        common = common_settings(conf)
        bucket, prefix = parse_gcs_url(common.remote_base)
        key_path = options.GOOGLE_KEY_PATH.get(conf)

        def build(fields: ConnectionFields | None) -> GCSStore:
            return GCSStore(lambda: build_client(fields, key_path), bucket, prefix)

        return cls.from_settings(common, prefix, build)
