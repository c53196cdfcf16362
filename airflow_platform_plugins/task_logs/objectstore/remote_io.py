"""Airflow's RemoteLogIO protocol for any object store, on top of the shared shipping core."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from airflow_platform_plugins.task_logs.common.connections import (
    ConnectionFields,
    ConnectionNotFound,
    lookup_connection,
)
from airflow_platform_plugins.task_logs.common.policy import ShippingPolicy
from airflow_platform_plugins.task_logs.common.processor import ShippingProcessor
from airflow_platform_plugins.task_logs.common.remote_io import RemoteLogIOBase
from airflow_platform_plugins.task_logs.common.settings import CommonSettings
from airflow_platform_plugins.task_logs.objectstore.reader import open_log
from airflow_platform_plugins.task_logs.objectstore.shipper import Shipper
from airflow_platform_plugins.task_logs.objectstore.store import ObjectStore

if TYPE_CHECKING:
    from typing_extensions import Self

log = logging.getLogger(__name__)

_RELOOKUP_SECONDS = 300.0


class StoreHandle:
    """The store client of this process, built lazily from the connection Airflow resolves.

    The task supervisor exposes the remote log connection only while it builds its log processors and
    while it uploads, so :meth:`prepare` is called at those moments; the background thread then uses
    the client built there. A later failed lookup never replaces a client built from a found connection.
    """

    def __init__(
        self, build: Callable[[ConnectionFields | None], ObjectStore], *, conn_id: str, prefix: str
    ) -> None:
        self._build = build
        self.conn_id = conn_id
        self.prefix = prefix
        self._lock = threading.Lock()
        self._state: tuple[int, tuple[Any, ...] | None, ObjectStore] | None = None
        self._looked_up = 0.0
        self._warned = False

    def prepare(self) -> None:
        """Resolve the connection now and rebuild the client if it changed. Never raises."""
        try:
            self._refresh()
        except Exception as exc:
            log.warning("Cannot prepare the remote log store client: %s", exc)

    def __call__(self) -> ObjectStore:
        """The store client for this process (looks the connection up again every few minutes)."""
        state = self._state
        fresh = time.monotonic() - self._looked_up < _RELOOKUP_SECONDS
        if state is not None and state[0] == os.getpid() and fresh:
            return state[2]
        return self._refresh()

    def _refresh(self) -> ObjectStore:
        with self._lock:
            fields, found = self._lookup()
            self._looked_up = time.monotonic()
            state = self._state
            same_process = state is not None and state[0] == os.getpid()
            if same_process and state is not None:
                if not found and state[1] is not None:
                    return state[2]  # keep the client built from a connection we could see before
                signature = fields.signature() if fields else None
                if signature == state[1]:
                    return state[2]
            store = self._build(fields)
            self._state = (os.getpid(), fields.signature() if fields else None, store)
            return store

    def _lookup(self) -> tuple[ConnectionFields | None, bool]:
        if not self.conn_id:
            return None, True
        try:
            return lookup_connection(self.conn_id), True
        except ConnectionNotFound as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "%s (check [logging] remote_log_conn_id); using the default credential chain", exc
                )
            return None, False


class ObjectStoreRemoteLogIO(RemoteLogIOBase):
    """Task logs in an object store: shipped live in immutable chunks, read back as streams.

    Implements Airflow 3's ``RemoteLogIO``/``RemoteLogStreamIO``: ``processors`` (live shipping from
    the task supervisor), ``upload`` (end of a try), ``read`` and ``stream`` (api-server).
    """

    destination = "the object store"

    def __init__(
        self,
        *,
        store: StoreHandle,
        base_log_folder: str,
        delete_local_copy: bool,
        policy: ShippingPolicy,
        read_prefetch_bytes: int = 16 << 20,
        excluded_dirs: tuple[str, ...] = (),
    ) -> None:
        self.store = store
        self.base_log_folder = os.path.abspath(os.path.expanduser(base_log_folder))
        self.delete_local_copy = delete_local_copy
        self.read_prefetch_bytes = read_prefetch_bytes
        self.shipper = Shipper(
            store,
            prefix=store.prefix,
            base_log_folder=self.base_log_folder,
            policy=policy,
            delete_local_copy=delete_local_copy,
            excluded_dirs=excluded_dirs,
        )
        self._processor = ShippingProcessor(self.shipper)

    @classmethod
    def from_settings(
        cls,
        common: CommonSettings,
        prefix: str,
        build: Callable[[ConnectionFields | None], ObjectStore],
    ) -> Self:
        """A RemoteLogIO whose store ``build`` makes from the connection Airflow resolves."""
        return cls(
            store=StoreHandle(build, conn_id=common.conn_id, prefix=prefix),
            base_log_folder=common.base_log_folder,
            delete_local_copy=common.delete_local_copy,
            policy=common.policy,
            read_prefetch_bytes=common.read_prefetch_bytes,
            excluded_dirs=common.excluded_dirs,
        )

    @property
    def processors(self) -> tuple[ShippingProcessor, ...]:
        """The structlog processor that ships lines while the try runs."""
        self.store.prepare()
        return (self._processor,)

    def finish(self, path: str) -> None:
        """Ship the rest of a finished try's log and wait for it (bounded)."""
        self.store.prepare()
        self.shipper.finish(path)

    def stream(self, relative_path: str, ti: Any = None) -> tuple[list[str], list[Iterator[str]]]:
        """Line iterators for each part of the log, for the api-server's streaming reader."""
        try:
            store = self.store()
        except Exception as exc:
            return [f"Could not open the remote log store: {exc}"], []
        return open_log(store, relative_path, prefetch_bytes=self.read_prefetch_bytes)
