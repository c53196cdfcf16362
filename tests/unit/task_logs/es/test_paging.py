"""The reader's offset cursor against an in-memory stand-in for Elasticsearch's search semantics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_platform_plugins.task_logs.es.reader import LogReader


class FakeIndex:
    """Answers the reader's searches like Elasticsearch: filter by log_id and ``offset >= start``,
    sort by offset (ties in index order), return ``size`` hits; the first page comes from _msearch."""

    def __init__(self, offsets: list[int]) -> None:
        self.docs: list[dict[str, Any]] = [
            {
                "_id": f"id{i}",
                "_source": {"log_id": "L", "event": f"doc {i}", "offset": offset},
                "offset": offset,
            }
            for i, offset in enumerate(offsets)
        ]
        self.searches = 0
        self.starts: list[int | None] = []
        self.indices = self

    def _page(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        start = end = None
        for clause in body["query"]["bool"]["filter"]:
            if "range" in clause:
                start = clause["range"]["offset"]["gte"]
                end = clause["range"]["offset"].get("lte")
        self.starts.append(start)
        skip = {i for clause in body["query"]["bool"].get("must_not", []) for i in clause["ids"]["values"]}
        matching = [
            d
            for d in self.docs
            if (start is None or d["offset"] >= start)
            and (end is None or d["offset"] <= end)
            and d["_id"] not in skip
        ]
        matching.sort(key=lambda d: d["offset"])  # stable: ties keep index order
        return [
            {"_id": d["_id"], "_source": {"event": d["_source"]["event"]}, "sort": [d["offset"]]}
            for d in matching[: body["size"]]
        ]

    def get_field_mapping(self, **kwargs: Any) -> Any:
        return Response({"i": {"mappings": {"log_id": {"mapping": {"log_id": {"type": "keyword"}}}}}})

    def options(self, **kwargs: Any) -> FakeIndex:
        return self

    def msearch(self, searches: list[dict[str, Any]]) -> Any:
        self.searches += 1
        page = {"hits": {"hits": self._page(searches[1])}}
        return Response({"responses": [page, {"hits": {"total": 0}}, {"hits": {"total": 0}}]})

    def search(self, **body: Any) -> Any:
        self.searches += 1
        return Response({"hits": {"hits": self._page(body)}})


class Response:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.meta = type("Meta", (), {"status": 200})()


def read(offsets: list[int], page_size: int) -> tuple[list[str], list[str], FakeIndex]:
    index = FakeIndex(offsets)
    reader = LogReader(lambda: index, display="fake", page_size=page_size)
    lines = [json.loads(line) for line in reader.iter_lines("L")]
    events = [line["event"] for line in lines if line.get("logger") != "airflow_platform_plugins.task_logs"]
    reports = [line["event"] for line in lines if line.get("logger") == "airflow_platform_plugins.task_logs"]
    return events, reports, index


@pytest.mark.parametrize("page_size", [1, 2, 3, 4, 7, 100])
def test_every_document_once_in_order_whatever_the_page_size(page_size: int) -> None:
    # Two segments (a jump), duplicates inside a page and across page boundaries.
    offsets = [1, 2, 3, 3, 4, 5, 5, 5, 6, 1_000_000, 1_000_001, 1_000_001, 1_000_002]
    events, reports, _ = read(offsets, page_size)
    assert sorted(events) == sorted(f"doc {i}" for i in range(len(offsets)))
    by_offset = sorted(range(len(offsets)), key=lambda i: offsets[i])
    assert [offsets[int(e.split()[1])] for e in events] == [offsets[i] for i in by_offset]
    (report,) = reports
    assert report.startswith("4 documents share their offset")


def test_consecutive_offsets_are_read_with_one_search_per_page() -> None:
    events, reports, index = read(list(range(1, 101)), 10)
    assert events == [f"doc {i}" for i in range(100)]
    assert reports == []
    assert index.searches <= 12  # 10 pages, plus at most the speculative page past the end


def test_more_documents_on_one_offset_than_a_page_holds_are_all_read() -> None:
    events, reports, _ = read([1, 2, 2, 2, 2, 2, 3], 2)
    assert sorted(events) == sorted(f"doc {i}" for i in range(7))
    assert reports == [
        "4 documents share their offset with a different document of this log (two writers "
        "used the same offsets); all are shown, in the order Elasticsearch returned them"
    ]


def test_no_page_is_guessed_ahead_when_offsets_do_not_run_on() -> None:
    # Every offset three times: each page moves on by a few offsets only, so a page guessed from
    # "consecutive offsets" would be wrong; none is fetched, and no search is wasted.
    offsets = [n for n in range(1, 101) for _ in range(3)]
    events, _, index = read(offsets, 10)
    assert sorted(events) == sorted(f"doc {i}" for i in range(300))
    starts = [s for s in index.starts if s is not None]
    assert starts == sorted(set(starts)), "each search starts where the page before ended, once"
