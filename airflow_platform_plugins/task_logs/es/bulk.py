"""``write_to_es``: index a try's documents with ``_bulk`` while it runs (thin client adapter).

Each document has a stable ``_id`` (its ``log_id`` and offset) and is sent with ``create``: a batch
sent again after a timeout or an outage finds its documents (409) and adds nothing, so no line is ever
indexed twice. A document the index refuses because of a field's mapping is indexed again with only
the fields every log needs, the others kept as JSON text in ``airflow_fields``; nothing is dropped.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airflow_platform_plugins import options
from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.es import template
from airflow_platform_plugins.task_logs.es.client import translate_error
from airflow_platform_plugins.task_logs.es.documents import (
    OVERFLOW_FIELD,
    TIMESTAMP,
    get_path,
    set_path,
    to_json_line,
)
from airflow_platform_plugins.task_logs.es.identity import FIELDS as IDENTITY_FIELDS
from airflow_platform_plugins.task_logs.es.sinks import Batch

log = logging.getLogger(__name__)

_KEPT = ("log_id", TIMESTAMP, "event", "message", "level", "logger", *IDENTITY_FIELDS)
_FILTER = "errors,items.*.status,items.*.error.type,items.*.error.reason"
_SPLIT_DOCS = 500
_INDEXED_MAX = 100_000


class BulkSink:
    """Documents into ``target_index`` through ``_bulk``."""

    name = "elasticsearch"

    def __init__(
        self,
        client: Callable[[], Any],
        *,
        target_index: str,
        display: str,
        latency: float,
        max_bytes: int,
        offset_field: str = "offset",
        host_field: str = "host",
        install_template: bool = True,
        engine: str = "Elasticsearch",
    ) -> None:
        self._client = client
        self.engine = engine
        self.target_index = target_index
        self.display = display
        self.latency = latency
        self.max_bytes = max_bytes
        self._offset_field = offset_field
        self._host_field = host_field
        self._install_template = install_template
        self._template_checked = False
        self._lock = threading.Lock()
        self._indexed: set[str] = set()
        """``_id``\\ s of a partly failed batch that are indexed already (its retry skips them)."""
        self._action_prefix = b'{"create":{"_index":' + json.dumps(target_index).encode() + b',"_id":"'

    def where(self) -> str:
        """The index, for messages."""
        return f"{self.engine} {self.display} index {self.target_index}"

    def prepare(self) -> None:
        """Build the client and install the index template now, before the first lines are due."""
        self._ensure_template(self._client())

    def send(self, batch: Batch) -> None:
        """Index ``batch``; raise :class:`RemoteLogError` if part of it is not indexed yet (send it again)."""
        client = self._client()
        self._ensure_template(client)
        # A batch sent again after a partial failure: only what was not indexed the last time.
        with self._lock:
            pending = [item for item in batch if item[0] not in self._indexed]
        failed = self._bulk(client, pending) if pending else []
        with self._lock:
            if not failed:
                self._indexed.difference_update(item[0] for item in batch)
                return
            if len(self._indexed) > _INDEXED_MAX:
                self._indexed.clear()  # only costs resending documents (they answer 409)
            not_indexed = {item[0] for item, _, _ in failed}
            self._indexed.update(item[0] for item in pending if item[0] not in not_indexed)
        refused = [(item, reason) for item, reason, permanent in failed if permanent]
        if len(refused) < len(failed):
            _, reason, _ = next(f for f in failed if not f[2])
            raise RemoteLogError(
                f"{len(failed) - len(refused)} of {len(batch)} documents not indexed: {reason}"
            )
        log.warning(
            "%s refused %d documents (%s); indexing them with their other fields as text in %r",
            self.where(),
            len(refused),
            refused[0][1],
            OVERFLOW_FIELD,
        )
        still = self._bulk(client, [self._reduced(item) for item, _ in refused])
        if still:
            _, reason, _ = still[0]
            raise RemoteLogError(
                f"{self.where()} refused {len(still)} documents even with only the core fields: {reason}",
                permanent=True,
                setting=f"the mapping of {self.target_index} (see the index template in the docs)",
            )

    def _bulk(self, client: Any, batch: Batch) -> list[tuple[tuple[str, int, dict[str, Any]], str, bool]]:
        """Send ``batch``; the documents not indexed, with the reason and whether retrying is pointless.

        A backlog goes as two requests at once (Elasticsearch indexes them on two threads).
        """
        if len(batch) < 2 * _SPLIT_DOCS:
            return self._request(client, batch)
        half = len(batch) // 2
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="es-bulk") as pool:
            first, second = pool.map(lambda part: self._request(client, part), (batch[:half], batch[half:]))
        return first + second

    def _request(self, client: Any, batch: Batch) -> list[tuple[tuple[str, int, dict[str, Any]], str, bool]]:
        prefix = self._action_prefix
        body = b"".join(prefix + doc_id.encode() + b'"}}\n' + to_json_line(doc) for doc_id, _, doc in batch)
        try:
            response = client.bulk(operations=body, filter_path=_FILTER)
        except Exception as exc:
            raise translate_error(exc, self.where()) from exc
        if not response.get("errors"):
            return []
        failed = []
        for item, result in zip(batch, response.get("items", ()), strict=False):
            outcome: dict[str, Any] = next(iter(result.values()), {})
            status = int(outcome.get("status", 0))
            if status < 300 or status == 409:  # 409: created by an earlier attempt
                continue
            error = outcome.get("error") or {}
            reason = f"{status} {error.get('type', '')}: {error.get('reason', '')}"
            failed.append((item, reason, status == 400))
        return failed

    def _reduced(self, item: tuple[str, int, dict[str, Any]]) -> tuple[str, int, dict[str, Any]]:
        doc_id, offset, doc = item
        reduced: dict[str, Any] = {key: doc[key] for key in _KEPT if key in doc}
        for dotted in (self._offset_field, self._host_field):
            set_path(reduced, dotted, get_path(doc, dotted))
        roots = {dotted.split(".", 1)[0] for dotted in (self._offset_field, self._host_field)}
        others = {k: v for k, v in doc.items() if k not in reduced and k not in roots}
        reduced[OVERFLOW_FIELD] = json.dumps(others, ensure_ascii=False, default=str)
        return doc_id, offset, reduced

    def _ensure_template(self, client: Any) -> None:
        if self._template_checked or not self._install_template:
            return
        with self._lock:
            if self._template_checked:
                return
            body = template.index_template(
                template.template_patterns(self.target_index),
                host_field=self._host_field,
                offset_field=self._offset_field,
            )
            try:
                name = template.ensure(client, body)
                if name is not None:
                    log.info("Installed index template %r for %s", name, body["index_patterns"])
            except Exception as exc:
                error = translate_error(exc, self.where())
                if not error.permanent:
                    raise error from exc
                log.warning(
                    "Cannot install index template %r (%s); set %s = False to stop trying",
                    template.NAME,
                    error,
                    options.ES_INSTALL_TEMPLATE.name,
                )
            self._template_checked = True
