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

import msgspec

from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.common.reporting import LOGGER_NAME
from airflow_platform_plugins.task_logs.es.client import translate_error
from airflow_platform_plugins.task_logs.es.documents import OVERFLOW_FIELD
from airflow_platform_plugins.task_logs.es.queries import TEXT_FIELDS, Mapping, Queries
from airflow_platform_plugins.task_logs.es.shapes import Normaliser

log = logging.getLogger(__name__)

_MAPPING_TTL = 60.0
_MAPPING_CACHE_MAX = 256
_HIT_FIELDS = ["hits.hits._id", "hits.hits._source", "hits.hits.sort"]

Hits = list[dict[str, Any]]


def report_line(event: str, timestamp: Any = None, level: str = "warning") -> str:
    """A log line (Airflow's JSON shape) that tells the reader about the stored documents."""
    line: dict[str, Any] = {"level": level, "event": event, "logger": LOGGER_NAME}
    if timestamp is not None:
        line["timestamp"] = timestamp
    return json.dumps(line, ensure_ascii=False)


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
    ) -> None:
        self._client = client
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
        source = f"Elasticsearch {self.display} log_id={log_id}"
        try:
            indices = self.indices(ti)
            source = f"Elasticsearch {self.display} {indices} log_id={log_id}"
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
            error = translate_error(exc, f"Elasticsearch {self.display}")
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
                log.warning("Elasticsearch %s: %s", self.display, _search_error(response))
        return responses[0]["hits"]["hits"], _total(responses[1]), _total(responses[2])

    def _search(self, client: Any, indices: str, body: dict[str, Any]) -> Hits:
        response = client.search(
            index=indices, ignore_unavailable=True, allow_no_indices=True, filter_path=_HIT_FIELDS, **body
        )
        return list(response.body.get("hits", {}).get("hits", ()))

    # -- the ordered stream -----------------------------------------------------------------------

    def _pages(self, client: Any, indices: str, queries: Queries, first: Hits) -> Generator[Hits, None, None]:
        """The ordered documents, page after page, each once.

        Each page is ``offset >= last`` of the page before; the documents at ``last`` that were read
        already come back first and are skipped. When offsets run consecutively (one writer's lines),
        the page after the next one is fetched too: its start is then known in advance. A whole page
        of one offset is followed by the rest of that offset, read alone.
        """
        target = queries.sortable(indices)
        size = self.page_size
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="es-log-read")
        ahead: dict[int, Future[Hits]] = {}

        def fetch(start: int, **kwargs: Any) -> Future[Hits]:
            return pool.submit(self._search, client, target, queries.ordered(start, **kwargs))

        seen_offset: Any = None
        seen_ids: set[str] = set()
        pile: Any = None  # an offset shared by more documents than a page holds, being read alone
        hits = first
        try:
            while hits or pile is not None:
                fresh = [h for h in hits if h["sort"][0] != seen_offset or h["_id"] not in seen_ids]
                for hit in fresh:
                    if hit["sort"][0] != seen_offset:
                        seen_offset, seen_ids = hit["sort"][0], set()
                    seen_ids.add(hit["_id"])
                full = len(hits) >= size
                following = None
                if pile is not None:  # the rest of that offset, then what follows it
                    if full:
                        following = fetch(pile, only=True, skip=frozenset(seen_ids))
                    else:
                        pile, following = None, fetch(pile + 1)
                elif full:
                    last = hits[-1]["sort"][0]
                    if fresh:
                        following = ahead.pop(last, None) or fetch(last)
                    else:  # a whole page of one offset, read already
                        pile, following = last, fetch(last, only=True, skip=frozenset(seen_ids))
                    for guessed in ahead.values():  # a wrong guess: offsets did not run on
                        guessed.cancel()
                    ahead.clear()
                    if fresh and last - hits[0]["sort"][0] == len(hits) - 1:
                        # Consecutive offsets: the page after the next one starts at this guess.
                        ahead[last + size - 1] = fetch(last + size - 1)
                if fresh:
                    yield fresh
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
        mapping = queries.mapping
        if mapping.analysed:
            yield report_line(
                f"log_id is mapped as analysed text in {', '.join(mapping.analysed)}: matched through "
                f"{'log_id.keyword' if mapping.text_keyword else 'a phrase search'} and checked exactly; "
                "install the index template (see the docs) for exact matches"
            )
        check = bool(mapping.analysed)
        log_id = queries.log_id
        line_of = self._normaliser.line
        encode = msgspec.json.Encoder().encode
        shared = identical = 0
        last_offset: Any = None
        last_text = ""
        last_timestamp: Any = None
        pages = self._pages(client, indices, queries, first)
        try:
            for page in pages:
                for hit in page:
                    source = hit["_source"]
                    if check and source.get("log_id") != log_id:
                        continue
                    if OVERFLOW_FIELD in source:
                        _merge_overflow(source)
                    line = line_of(source)
                    text = encode(line).decode("utf-8", "replace")
                    offset = hit["sort"][0]
                    if offset == last_offset:
                        if text == last_text:
                            identical += 1
                            continue
                        shared += 1
                    last_offset, last_text = offset, text
                    last_timestamp = line.get("timestamp", last_timestamp)
                    yield text
        except Exception as exc:
            error = translate_error(exc, f"Elasticsearch {self.display}")
            yield report_line(f"Reading stopped after offset {last_offset}: {error}", last_timestamp, "error")
            return
        finally:
            pages.close()
        if identical:
            yield report_line(
                f"{identical} documents repeated another document of this log (same offset and content, "
                "a shipper sent them twice); each line is shown once",
                last_timestamp,
            )
        if shared:
            yield report_line(
                f"{shared} documents share their offset with a different document of this log (two "
                "writers used the same offsets); all are shown, in the order Elasticsearch returned them",
                last_timestamp,
            )

    # -- documents without a usable offset ---------------------------------------------------------

    def _unordered(
        self, client: Any, indices: str, queries: Queries, count: int, *, text: bool
    ) -> Generator[str, None, None]:
        """Documents that cannot be ordered by offset, in timestamp order, after one line saying so."""
        if text:
            query = queries.text_only()
            what = (
                f"{count} documents hold lines of this log only as text in `log` or `message`, without a "
                "log_id field (the shipper did not parse the JSON line); they are shown by time"
            )
        else:
            query = queries.missing_offset()
            reasons = ["missing or not a number"]
            reasons += [
                f"{self.offset_field} is mapped as {kind} in {index}"
                for index, kind in sorted(queries.mapping.non_numeric_offset.items())
            ]
            what = (
                f"{count} documents of this log have no numeric {self.offset_field} "
                f"({'; '.join(reasons)}); they are shown by time"
            )
        reported = False
        lines = self._by_time(client, indices, query, queries.log_id, text=text)
        try:
            for line in lines:
                if not reported:
                    reported = True
                    yield report_line(what, json.loads(line).get("timestamp"))
                yield line
        finally:
            lines.close()

    def _by_time(
        self, client: Any, indices: str, query: dict[str, Any], log_id: str, *, text: bool
    ) -> Generator[str, None, None]:
        """``search_after`` on a point in time, sorted by time."""
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
                    line = (
                        self._text_line(hit["_source"], log_id)
                        if text
                        else self._plain_line(hit["_source"], log_id)
                    )
                    if line is not None:
                        yield line
                if len(hits) < self.page_size:
                    return
                after = hits[-1]["sort"]
        except Exception as exc:
            error = translate_error(exc, f"Elasticsearch {self.display}")
            yield report_line(f"Could not read the documents without a usable offset: {error}", None, "error")
        finally:
            if pit is not None:
                try:
                    client.close_point_in_time(id=pit)
                except Exception as exc:  # it expires by itself
                    log.debug("Closing a point in time failed: %s", exc)

    def _plain_line(self, source: dict[str, Any], log_id: str) -> str | None:
        if "log_id" in source and source["log_id"] != log_id:
            return None
        if OVERFLOW_FIELD in source:
            _merge_overflow(source)
        return json.dumps(self._normaliser.line(source), ensure_ascii=False)

    def _text_line(self, source: dict[str, Any], log_id: str) -> str | None:
        """A document whose line is only text: parse it back if it is this log's JSON line."""
        for name in TEXT_FIELDS:
            raw = source.get(name)
            if not isinstance(raw, str) or log_id not in raw:
                continue
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                if parsed.get("log_id") != log_id:
                    return None
                for key in ("@timestamp", "time"):
                    if key in source and "timestamp" not in parsed and "@timestamp" not in parsed:
                        parsed["@timestamp"] = source[key]
                return json.dumps(self._normaliser.line(parsed), ensure_ascii=False)
            timestamp = source.get("@timestamp") or source.get("time")
            return json.dumps({"timestamp": timestamp, "event": raw.rstrip("\n")}, ensure_ascii=False)
        return None


def _search_error(response: dict[str, Any]) -> RemoteLogError:
    error = response.get("error", {})
    reason = error.get("reason") if isinstance(error, dict) else error
    return RemoteLogError(f"search failed ({response.get('status')}): {reason}")


def _total(response: dict[str, Any]) -> int:
    total = response.get("hits", {}).get("total", 0)
    return int(total.get("value", 0) if isinstance(total, dict) else total)


def _merge_overflow(source: dict[str, Any]) -> None:
    """Put back the fields that ``write_to_es`` kept as text because the index refused them."""
    try:
        extra = json.loads(source.pop(OVERFLOW_FIELD))
    except (TypeError, ValueError):
        return
    if isinstance(extra, dict):
        for key, value in extra.items():
            source.setdefault(key, value)
