"""Google Cloud Storage task logs: the google-cloud-storage adapter for the shared shipping core."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from airflow_platform_plugins import options
from airflow_platform_plugins.options import ConfigError
from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.common.settings import common_settings
from airflow_platform_plugins.task_logs.objectstore._google import authorized_session, download_url
from airflow_platform_plugins.task_logs.objectstore.remote_io import ObjectStoreRemoteLogIO
from airflow_platform_plugins.task_logs.objectstore.store import FileRange, ObjectInfo

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$")
_TIMEOUT = (5.0, 60.0)
_BLOCK = 1 << 20
# The client library buffers whole request and response bodies. Small objects (live flushes) go
# through it in one request; larger ones are streamed from the file in one PUT to a resumable-upload
# session, and reads stream the response, so memory does not depend on object sizes.
_STREAMED_UPLOAD_MIN = 2 << 20
_UPLOAD_SLOTS = 8
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


def translate_error(exc: Exception) -> RemoteLogError:
    """Turn a google-cloud exception into a :class:`RemoteLogError` that names what to fix."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    if isinstance(exc, gexc.RetryError) and isinstance(exc.cause, Exception):
        exc = exc.cause
    if isinstance(exc, auth_exc.GoogleAuthError):
        return RemoteLogError(
            f"no usable Google credentials: {exc}", permanent=True, setting=_CREDENTIALS_SETTING
        )
    if isinstance(exc, gexc.Unauthorized | gexc.Forbidden):
        return RemoteLogError(
            f"credentials were refused: {exc.message}", permanent=True, setting=_CREDENTIALS_SETTING
        )
    if isinstance(exc, gexc.NotFound):
        return RemoteLogError(
            f"not found: {exc.message}", permanent=True, setting=options.REMOTE_BASE_LOG_FOLDER.name
        )
    if isinstance(exc, gexc.GoogleAPICallError):
        return RemoteLogError(f"GCS error {exc.code}: {exc.message}")
    return RemoteLogError(f"cannot reach GCS: {exc!r}")


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


def _crc32c(body: FileRange) -> str:
    """Base64 CRC32C of a file range, for the server to check what it received."""
    import base64

    import google_crc32c

    checksum = google_crc32c.Checksum()  # type: ignore[no-untyped-call]
    with body.open() as stream:
        for block in iter(lambda: stream.read(_BLOCK), b""):
            checksum.update(block)  # type: ignore[no-untyped-call]
    return base64.b64encode(checksum.digest()).decode()  # type: ignore[no-untyped-call]


def _read_retry() -> Any:
    """The client's default retry for reads, bounded to a few seconds (its default is two minutes)."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(5.0)


class GCSStore:
    """:class:`~airflow_platform_plugins.task_logs.objectstore.store.ObjectStore` on google-cloud-storage.

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
        self.read_buffer = 0  # ranged reads stream

    def _bucket(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    self._client = self._make_client()
                except Exception as exc:
                    raise translate_error(exc) from exc
            return self._client.bucket(self.bucket_name)

    def url(self, key: str) -> str:
        """``gs://bucket/key``."""
        return f"gs://{self.bucket_name}/{key}"

    def put_new(self, key: str, body: FileRange) -> None:
        """Create ``key`` only if it does not exist (``if_generation_match=0``).

        An existing object already holds these bytes (the same range of the same file), so a failed
        precondition means done.
        """
        from google.api_core.exceptions import PreconditionFailed

        blob = self._bucket().blob(key)
        try:
            if body.length < _STREAMED_UPLOAD_MIN:
                blob.upload_from_string(body.read_all(), if_generation_match=0, retry=None, timeout=_TIMEOUT)
            else:
                self._streamed_upload(blob, body)
        except PreconditionFailed:
            return
        except RemoteLogError:
            raise
        except Exception as exc:
            raise translate_error(exc) from exc

    def _streamed_upload(self, blob: Any, body: FileRange) -> None:
        """Open a resumable-upload session and send the whole range in one streamed PUT."""
        from google.api_core.exceptions import from_http_response

        session_url = blob.create_resumable_upload_session(
            size=body.length, if_generation_match=0, timeout=_TIMEOUT, retry=None, checksum=None
        )
        headers = {"Content-Length": str(body.length), "X-Goog-Hash": f"crc32c={_crc32c(body)}"}
        with body.open() as stream:
            # The session URL is the credential; the client's session adds its token anyway.
            response = authorized_session(blob.client).put(
                session_url, data=stream, headers=headers, timeout=_TIMEOUT
            )
        if response.status_code >= 400:
            raise from_http_response(response)  # type: ignore[no-untyped-call]

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """All objects under ``prefix``, in name order."""
        bucket = self._bucket()
        try:
            # No client-side retry: the shipper retries with its own backoff, the reader reports.
            for blob in bucket.client.list_blobs(bucket, prefix=prefix, timeout=_TIMEOUT, retry=None):
                yield ObjectInfo(blob.name, int(blob.size or 0))
        except Exception as exc:
            raise translate_error(exc) from exc

    def get(self, key: str, start: int, length: int) -> bytes:
        """Ranged download into memory."""
        return b"".join(self.iter_bytes(key, start, length))

    def iter_bytes(self, key: str, start: int, length: int) -> Iterator[bytes]:
        """One ranged, streamed download, handed out in blocks of at most 1 MiB as they arrive."""
        if length <= 0:
            return
        response = self._open_range(key, start, length)
        received = 0
        try:
            with response:
                for block in response.iter_content(_BLOCK):
                    received += len(block)
                    yield block
        except RemoteLogError:
            raise
        except Exception as exc:
            raise translate_error(exc) from exc
        if received != length:
            raise RemoteLogError(f"{self.url(key)}: got {received} of {length} bytes from offset {start}")

    def delete(self, key: str) -> None:
        """Delete ``key``; one that does not exist is not an error."""
        from google.api_core.exceptions import NotFound

        try:
            self._bucket().blob(key).delete(timeout=_TIMEOUT, retry=None)
        except NotFound:
            return
        except Exception as exc:
            raise translate_error(exc) from exc

    def compose(self, key: str, sources: Sequence[str]) -> None:
        """Compose ``sources`` into ``key`` on the server, only if ``key`` does not exist."""
        from google.api_core.exceptions import PreconditionFailed

        bucket = self._bucket()
        try:
            bucket.blob(key).compose(
                [bucket.blob(s) for s in sources], if_generation_match=0, timeout=_TIMEOUT, retry=None
            )
        except PreconditionFailed:
            return  # composed before: same name, same byte range, same bytes
        except Exception as exc:
            raise translate_error(exc) from exc

    def _open_range(self, key: str, start: int, length: int) -> Any:
        """A streaming response for ``[start, start + length)``, retried briefly while it opens."""
        from google.api_core.exceptions import from_http_response

        bucket = self._bucket()
        client = bucket.client
        url = download_url(bucket.blob(key), client)
        headers = {"Range": f"bytes={start}-{start + length - 1}", "Accept-Encoding": "identity"}

        def open_() -> Any:
            response = authorized_session(client).get(url, headers=headers, stream=True, timeout=_TIMEOUT)
            if response.status_code >= 400:
                response.close()
                raise from_http_response(response)  # type: ignore[no-untyped-call]
            return response

        try:
            return _read_retry()(open_)()
        except Exception as exc:
            raise translate_error(exc) from exc


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
