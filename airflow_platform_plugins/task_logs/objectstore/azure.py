"""Azure Blob Storage task logs: the azure-storage-blob adapter for the shared shipping core.

Settings keep the microsoft-azure provider's meaning: a ``[logging] remote_base_log_folder`` that
starts with ``wasb`` selects Azure; ``wasb://path`` (or ``wasbs://path``) names the blob prefix
``path``, any other form (``wasb-logs``) is itself the prefix; the container is
``[azure_remote_logging] remote_wasb_log_container``; credentials come from the ``wasb`` connection.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from typing import Any

from airflow_platform_plugins import options
from airflow_platform_plugins.options import ConfigError
from airflow_platform_plugins.task_logs.common.connections import ConnectionFields
from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.common.settings import common_settings
from airflow_platform_plugins.task_logs.objectstore.azure_auth import RANGE_BYTES, build_service_client
from airflow_platform_plugins.task_logs.objectstore.remote_io import ObjectStoreRemoteLogIO
from airflow_platform_plugins.task_logs.objectstore.store import FileRange, ObjectInfo

# https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata
_CONTAINER_RE = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_BLOCK = 1 << 20
# The client holds a chunk's body (up to 16 MiB) in memory, twice: one upload at a time keeps a backlog's
# upload under 100 MB, and on Azurite it was no slower than two (docs/decisions.md).
_UPLOAD_SLOTS = 1
_CREDENTIALS_SETTING = f"{options.REMOTE_LOG_CONN_ID.name} or the default Azure credential chain"
_EXISTS_CODES = ("BlobAlreadyExists", "ConditionNotMet")


def parse_wasb_folder(folder: str) -> str:
    """The blob prefix of a ``wasb`` folder; raise :class:`ConfigError` naming the setting if malformed.

    As the provider: ``wasb://path`` and ``wasbs://path`` mean ``path``; any other value starting with
    ``wasb`` (``wasb-logs``) is the prefix itself. The Hadoop form ``wasb://container@account...`` is
    refused: the container and account belong in their own settings.
    """
    setting = options.REMOTE_BASE_LOG_FOLDER.name
    if not folder.startswith("wasb"):
        raise ConfigError(f"{setting} must start with wasb (wasb://path or wasb-name), got {folder!r}")
    prefix = folder
    for scheme in ("wasb://", "wasbs://"):
        if folder.startswith(scheme):
            prefix = folder[len(scheme) :]
            break
    first = prefix.split("/", 1)[0]
    if ":" in first or "@" in first or "\\" in prefix:
        raise ConfigError(
            f"{setting} must look like wasb://path/in/container or wasb-name, got {folder!r} "
            f"(the container goes in {options.WASB_CONTAINER.name}, the account in the connection)"
        )
    return prefix.strip("/")


def check_container(name: str) -> str:
    """Validate a container name (3-63 of a-z, 0-9 and single hyphens); :class:`ConfigError` if not."""
    if not _CONTAINER_RE.match(name or ""):
        raise ConfigError(
            f"{options.WASB_CONTAINER.name} must be a container name (3-63 lowercase letters, digits "
            f"and single hyphens), got {name!r}"
        )
    return name


def translate_error(exc: Exception) -> RemoteLogError:
    """Turn an azure-core exception into a :class:`RemoteLogError` that names what to fix."""
    from azure.core import exceptions as aexc

    if isinstance(exc, RemoteLogError):
        return exc
    code = str(getattr(exc, "error_code", "") or "")
    status = getattr(exc, "status_code", None)
    message = str(getattr(exc, "message", "") or exc).splitlines()[0]
    if isinstance(exc, aexc.ClientAuthenticationError) and status is None:
        # Raised by azure-identity before any request: no credential in the chain worked.
        return RemoteLogError(
            f"no usable Azure credentials: {message}", permanent=True, setting=_CREDENTIALS_SETTING
        )
    if code == "ContainerNotFound":
        return RemoteLogError(
            "the container does not exist", permanent=True, setting=options.WASB_CONTAINER.name
        )
    if status in (401, 403) or isinstance(exc, aexc.ClientAuthenticationError):
        return RemoteLogError(
            f"credentials were refused: {code or status}: {message}",
            permanent=True,
            setting=_CREDENTIALS_SETTING,
        )
    if isinstance(exc, aexc.ResourceNotFoundError):
        return RemoteLogError(
            f"not found: {code}", permanent=True, setting=options.REMOTE_BASE_LOG_FOLDER.name
        )
    if isinstance(exc, aexc.HttpResponseError) and status is not None:
        return RemoteLogError(f"Azure Blob Storage error {code or status}: {message}")
    if isinstance(exc, aexc.AzureError):
        return RemoteLogError(f"cannot reach Azure Blob Storage: {message}")
    return RemoteLogError(f"Azure Blob Storage call failed: {exc!r}")


class AzureBlobStore:
    """:class:`~airflow_platform_plugins.task_logs.objectstore.store.ObjectStore` on azure-storage-blob.

    Chunks are block blobs created with ``If-None-Match: *``. The client is built on first use (the
    default credential chain may query the instance metadata service, which must not happen on the
    task supervisor's loop).
    """

    def __init__(self, make_client: Any, container: str, prefix: str) -> None:
        self._make_client = make_client
        self._container: Any = None
        self._lock = threading.Lock()
        self.container_name = container
        self.prefix = prefix
        self.upload_slots = _UPLOAD_SLOTS
        self.read_buffer = RANGE_BYTES  # the client reads each range whole
        # Build the client now (no request is made), while the task supervisor sets up logging, as
        # the S3 adapter does: the client library takes seconds to import on a busy host, and the
        # first flush must be able to report an unreachable store before a short try ends.
        with contextlib.suppress(RemoteLogError):
            self.container()  # a failure here is reported on first use

    def container(self) -> Any:
        """The ``ContainerClient`` (built once)."""
        with self._lock:
            if self._container is None:
                try:
                    self._container = self._make_client().get_container_client(self.container_name)
                except Exception as exc:
                    raise translate_error(exc) from exc
            return self._container

    def url(self, key: str) -> str:
        """``wasb://container/key``, the container's own address for humans."""
        return f"wasb://{self.container_name}/{key}"

    def put_new(self, key: str, body: FileRange) -> None:
        """Create the block blob ``key`` only if it does not exist (``If-None-Match: *``).

        An existing blob already holds these bytes (the same range of the same file), so a refused
        condition means done. Larger bodies go up as staged blocks committed under the same condition.
        """
        from azure.core.exceptions import HttpResponseError

        blob = self.container().get_blob_client(key)
        try:
            with body.open() as stream:
                blob.upload_blob(
                    stream, length=body.length, overwrite=False, max_concurrency=1, blob_type="BlockBlob"
                )
        except HttpResponseError as exc:
            code = getattr(exc, "error_code", None)
            if code in _EXISTS_CODES or (code is None and exc.status_code == 412):
                return  # the chunk exists: same name, same byte range, same bytes
            raise translate_error(exc) from exc
        except Exception as exc:
            raise translate_error(exc) from exc

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """List Blobs under ``prefix``, all pages, in name order."""
        container = self.container()
        try:
            for blob in container.list_blobs(name_starts_with=prefix):
                yield ObjectInfo(blob.name, int(blob.size or 0))
        except Exception as exc:
            raise translate_error(exc) from exc

    def delete(self, key: str) -> None:
        """Delete Blob; a blob that does not exist (already merged away) is not an error."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.container().delete_blob(key)
        except ResourceNotFoundError:
            return
        except Exception as exc:
            raise translate_error(exc) from exc

    def get(self, key: str, start: int, length: int) -> bytes:
        """Ranged download into memory."""
        return b"".join(self.iter_bytes(key, start, length))

    def iter_bytes(self, key: str, start: int, length: int) -> Iterator[bytes]:
        """Ranged download in the client's bounded chunks, handed out in blocks of at most 1 MiB."""
        if length <= 0:
            return
        received = 0
        try:
            downloader = self.container().download_blob(key, offset=start, length=length, max_concurrency=1)
            for chunk in downloader.chunks():
                view = memoryview(chunk)
                for at in range(0, len(view), _BLOCK):
                    block = bytes(view[at : at + _BLOCK])
                    received += len(block)
                    yield block
        except Exception as exc:
            raise translate_error(exc) from exc
        if received != length:
            raise RemoteLogError(f"{self.url(key)}: got {received} of {length} bytes from offset {start}")


class AzureBlobRemoteLogIO(ObjectStoreRemoteLogIO):
    """Task logs in Azure Blob Storage: ``[logging] remote_base_log_folder = wasb://prefix``."""

    @classmethod
    def from_config(cls, conf: Any = None) -> AzureBlobRemoteLogIO:
        """Build from Airflow's configuration; raise :class:`ConfigError` naming a bad setting."""
        if conf is None:
            from airflow.configuration import conf
        common = common_settings(conf)
        prefix = parse_wasb_folder(common.remote_base)
        container = check_container(options.WASB_CONTAINER.get(conf))
        account_url = options.AZURE_ACCOUNT_URL.get(conf)

        def build(fields: ConnectionFields | None) -> AzureBlobStore:
            return AzureBlobStore(lambda: build_service_client(fields, account_url), container, prefix)

        return cls.from_settings(common, prefix, build)
