"""Read a try's log from Elasticsearch: exact ``log_id``, ordered by offset, streamed in bounded memory.

One read asks, in one ``_msearch``, for the first page of the log and for two counts: documents of
the log without a numeric offset, and documents that hold the log's lines only as text (no ``log_id``
field: a shipper that did not parse the JSON line). Then:

- the ordered stream pages by offset cursor (``offset >= last``; the documents at ``last`` already
  read come back first and are skipped, so documents sharing an offset are neither lost nor
  repeated). The next page is fetched while the current one is turned into lines, and so is the one
  after it when offsets run consecutively: at most three pages are held, whatever the log's length;
- documents without a numeric offset, and text-only documents, each come as one more stream in
  timestamp order (``search_after`` on a point in time); Airflow merges streams by timestamp;
- each problem is reported once, in one short line (a missing or non-numeric offset, duplicate
  offsets, text-only documents, a ``log_id`` mapped as analysed text), and never stops the read.

Indices come from ``[elasticsearch] index_patterns`` (daily ``logstash-*`` style indices included) or
``index_patterns_callable``. The queries themselves are built in :mod:`.queries`.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.common.jsonlines import log_line
from airflow_platform_plugins.task_logs.es.client import translate_error
from airflow_platform_plugins.task_logs.es.queries import Mapping, OffsetCursor, PageRequest, Queries
from airflow_platform_plugins.task_logs.es.shapes import Normaliser, OrderedLines, plain_line, text_line

log = logging.getLogger(__name__)

_MAPPING_TTL = 60.0
_MAPPING_CACHE_MAX = 256
_HIT_FIELDS = ["hits.hits._id", "hits.hits._source", "hits.hits.sort"]

Hits = list[dict[str, Any]]


class LogReader:
    """Reads task logs from the indices matching ``index_patterns``."""

    def __init__(
        self,
        client: Callable[[], Any],
        *,
        display: str,
        index_patterns: str = "_all",
        index_patterns_callable: str = "",
        host_field: str = "host",
        offset_field: str = "offset",
        page_size: int = 5000,
        engine: str = "Elasticsearch",
    ) -> None:
        self._client = client
        self.engine = engine
        self.display = display
        self.index_patterns = index_patterns
        self.index_patterns_callable = index_patterns_callable
        self.host_field = host_field
        self.offset_field = offset_field
        self.page_size = page_size
        self._normaliser = Normaliser(host_field=host_field, offset_field=offset_field)
        self._mappings: dict[str, tuple[float, Mapping]] = {}
        self._lock = threading.Lock()

    # -- entry point ------------------------------------------------------------------------------

    def open(self, log_id: str, ti: Any = None) -> tuple[list[str], list[Generator[str, None, None]]]:
        """``(sources, line generators)`` for ``log_id``; never raises.

        No generator when the cluster has nothing for the log, so Airflow can still show the worker's
        own copy.
        """
        source = f"{self.engine} {self.display} log_id={log_id}"
        try:
            indices = self.indices(ti)
            source = f"{self.engine} {self.display} {indices} log_id={log_id}"
            client = self._client()
            queries = Queries(
                log_id,
                self._mapping(client, indices),
                offset_field=self.offset_field,
                host_field=self.host_field,
                page_size=self.page_size,
            )
            first, missing_offset, text_only = self._first_search(client, indices, queries)
        except Exception as exc:
            error = translate_error(exc, f"{self.engine} {self.display}")
            return [f"{source}: could not read: {error}"], []
        streams: list[Generator[str, None, None]] = []
        if first:
            streams.append(self._ordered(client, indices, queries, first))
        if missing_offset:
            streams.append(self._unordered(client, indices, queries, missing_offset, text=False))
        if text_only:
            streams.append(self._unordered(client, indices, queries, text_only, text=True))
        if not streams:
            return [f"{source}: no documents"], []
        return [source], streams

    def indices(self, ti: Any = None) -> str:
        """The index patterns to search for ``ti``."""
        if self.index_patterns_callable and ti is not None:
            module, _, name = self.index_patterns_callable.rpartition(".")
            return str(getattr(importlib.import_module(module), name)(ti))
        return self.index_patterns

    def iter_lines(self, log_id: str, ti: Any = None) -> Iterator[str]:
        """Every line of every stream, stream after stream (for tools and tests, not for the UI)."""
        _, streams = self.open(log_id, ti)
        for stream in streams:
            yield from stream

    # -- requests ---------------------------------------------------------------------------------

    def _mapping(self, client: Any, indices: str) -> Mapping:
        """How ``indices`` map the fields the reader depends on (cached for a minute)."""
        now = time.monotonic()
        cached = self._mappings.get(indices)
        if cached is not None and now - cached[0] < _MAPPING_TTL:
            return cached[1]
        response = client.options(ignore_status=404).indices.get_field_mapping(
            index=indices,
            fields=["log_id", "log_id.keyword", self.offset_field],
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        found = response.body if response.meta.status == 200 else {}  # 404: no index matches yet
        mapping = Mapping.from_field_mappings(found, self.offset_field)
        with self._lock:
            if len(self._mappings) >= _MAPPING_CACHE_MAX:
                self._mappings.clear()
            self._mappings[indices] = (now, mapping)
        return mapping

    def _first_search(self, client: Any, indices: str, queries: Queries) -> tuple[Hits, int, int]:
        header = {"index": indices, "ignore_unavailable": True, "allow_no_indices": True}
        count = {"size": 0, "track_total_hits": True}
        searches = [
            {**header, "index": queries.sortable(indices)},
            queries.ordered(None),
            header,
            {**count, "query": queries.missing_offset()},
            header,
            {**count, "query": queries.text_only()},
        ]
        responses = client.msearch(searches=searches).body["responses"]
        if "error" in responses[0]:
            raise _search_error(responses[0])
        for response in responses[1:]:  # a failed count only hides what it counts
            if "error" in response:
                log.warning("%s %s: %s", self.engine, self.display, _search_error(response))
        return responses[0]["hits"]["hits"], _total(responses[1]), _total(responses[2])

    def _search(self, client: Any, indices: str, body: dict[str, Any]) -> Hits:
        response = client.search(
            index=indices, ignore_unavailable=True, allow_no_indices=True, filter_path=_HIT_FIELDS, **body
        )
        return list(response.body.get("hits", {}).get("hits", ()))

    # -- the ordered stream -----------------------------------------------------------------------

    def _pages(self, client: Any, indices: str, queries: Queries, first: Hits) -> Generator[Hits, None, None]:
        """The ordered documents, page after page, each once (the cursor in :mod:`.queries` decides).

        The next page is fetched while the current one is turned into lines, and so is the one after
        it when offsets run consecutively: at most three pages are held.
        """
        target = queries.sortable(indices)
        cursor = OffsetCursor(self.page_size)
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="es-log-read")
        ahead: dict[int, Future[Hits]] = {}

        def fetch(page: PageRequest) -> Future[Hits]:
            return pool.submit(self._search, client, target, queries.request(page))

        hits = first
        try:
            while hits or cursor.pile is not None:
                step = cursor.advance(hits)
                following = None
                if step.following is not None:
                    plain = not step.following.only
                    following = (ahead.pop(step.following.start, None) if plain else None) or fetch(
                        step.following
                    )
                    for guessed in ahead.values():  # a wrong guess: offsets did not run on
                        guessed.cancel()
                    ahead.clear()
                if step.ahead is not None:
                    ahead[step.ahead] = fetch(PageRequest(step.ahead))
                if step.fresh:
                    yield step.fresh
                if following is None:
                    return
                hits = following.result()
        finally:
            for future in ahead.values():
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def _ordered(
        self, client: Any, indices: str, queries: Queries, first: Hits
    ) -> Generator[str, None, None]:
        """The log's lines in offset order, with the problems found reported at the end."""
        notice = queries.analysed_notice()
        if notice is not None:
            yield log_line(notice)
        lines = OrderedLines(self._normaliser, queries.log_id, check=notice is not None)
        pages = self._pages(client, indices, queries, first)
        try:
            for page in pages:
                for hit in page:
                    text = lines.text(hit)
                    if text is not None:
                        yield text
        except Exception as exc:
            error = translate_error(exc, f"{self.engine} {self.display}")
            yield log_line(
                f"Reading stopped after offset {lines.last_offset}: {error}",
                level="error",
                timestamp=lines.last_timestamp,
            )
            return
        finally:
            pages.close()
        for notice in lines.notices():
            yield log_line(notice, timestamp=lines.last_timestamp)

    # -- documents without a usable offset ---------------------------------------------------------

    def _unordered(
        self, client: Any, indices: str, queries: Queries, count: int, *, text: bool
    ) -> Generator[str, None, None]:
        """Documents that cannot be ordered by offset, in timestamp order, after one line saying so."""
        query = queries.text_only() if text else queries.missing_offset()
        to_line = text_line if text else plain_line
        reported = False
        sources = self._by_time(client, indices, query)
        try:
            for source in sources:
                if isinstance(source, str):  # the search failed
                    yield source
                    continue
                line = to_line(self._normaliser, source, queries.log_id)
                if line is None:
                    continue
                if not reported:
                    reported = True
                    yield log_line(
                        queries.unordered_notice(count, text=text), timestamp=line.get("timestamp")
                    )
                yield json.dumps(line, ensure_ascii=False)
        finally:
            sources.close()

    def _by_time(
        self, client: Any, indices: str, query: dict[str, Any]
    ) -> Generator[dict[str, Any] | str, None, None]:
        """The ``_source`` of each match, by time (``search_after`` on a point in time); a line on error."""
        pit = None
        try:
            opened = client.open_point_in_time(index=indices, keep_alive="1m", ignore_unavailable=True)
            pit = opened.body["id"]
            after = None
            while True:
                body: dict[str, Any] = {
                    "query": query,
                    "sort": Queries.by_time(),
                    "size": self.page_size,
                    "pit": {"id": pit, "keep_alive": "1m"},
                    "track_total_hits": False,
                }
                if after is not None:
                    body["search_after"] = after
                response = client.search(
                    filter_path=["pit_id", "hits.hits._source", "hits.hits.sort"], **body
                )
                pit = response.body.get("pit_id", pit)
                hits = response.body.get("hits", {}).get("hits", [])
                for hit in hits:
                    yield hit["_source"]
                if len(hits) < self.page_size:
                    return
                after = hits[-1]["sort"]
        except Exception as exc:
            error = translate_error(exc, f"{self.engine} {self.display}")
            yield log_line(f"Could not read the documents without a usable offset: {error}", level="error")
        finally:
            if pit is not None:
                try:
                    client.close_point_in_time(id=pit)
                except Exception as exc:  # it expires by itself
                    log.debug("Closing a point in time failed: %s", exc)


def _search_error(response: dict[str, Any]) -> RemoteLogError:
    error = response.get("error", {})
    reason = error.get("reason") if isinstance(error, dict) else error
    return RemoteLogError(f"search failed ({response.get('status')}): {reason}")


def _total(response: dict[str, Any]) -> int:
    total = response.get("hits", {}).get("total", 0)
    return int(total.get("value", 0) if isinstance(total, dict) else total)
