from __future__ import annotations

from typing import Any

from airflow_platform_plugins.task_logs.es.queries import Mapping, OffsetCursor, PageRequest, Queries

FIELD_MAPPINGS = {
    "logs-new": {
        "mappings": {
            "log_id": {"full_name": "log_id", "mapping": {"log_id": {"type": "keyword"}}},
            "offset": {"full_name": "offset", "mapping": {"offset": {"type": "long"}}},
        }
    },
    "logs-dynamic": {
        "mappings": {
            "log_id": {"full_name": "log_id", "mapping": {"log_id": {"type": "text"}}},
            "log_id.keyword": {"full_name": "log_id.keyword", "mapping": {"keyword": {"type": "keyword"}}},
            "offset": {"full_name": "offset", "mapping": {"offset": {"type": "text"}}},
        }
    },
    "logs-text": {"mappings": {"log_id": {"full_name": "log_id", "mapping": {"log_id": {"type": "text"}}}}},
    "other": {"mappings": {}},
}


def test_the_mapping_of_each_index_is_classified() -> None:
    mapping = Mapping.from_field_mappings(FIELD_MAPPINGS, "offset")
    assert mapping.exact == ["logs-new"]
    assert mapping.text_keyword == ["logs-dynamic"]
    assert mapping.text_only == ["logs-text"]
    assert mapping.non_numeric_offset == {"logs-dynamic": "text"}


def queries(mapping: Mapping) -> Queries:
    return Queries("L", mapping, offset_field="offset", host_field="host", page_size=100)


def test_exact_mappings_get_a_term_and_never_send_log_id_back() -> None:
    q = queries(Mapping(exact=["a"]))
    assert q.log_clause() == {"term": {"log_id": "L"}}
    body = q.ordered(42)
    assert {"range": {"offset": {"gte": 42}}} in body["query"]["bool"]["filter"]
    assert "log_id" in body["_source"]["excludes"]
    assert body["sort"] == [{"offset": {"order": "asc", "unmapped_type": "long"}}]


def test_analysed_mappings_get_candidates_checked_exactly() -> None:
    q = queries(Mapping.from_field_mappings(FIELD_MAPPINGS, "offset"))
    should = q.log_clause()["bool"]["should"]
    assert {"term": {"log_id.keyword": "L"}} in should
    assert {"match_phrase": {"log_id": "L"}} in should
    assert "log_id" not in q.ordered(None)["_source"]["excludes"], "needed for the exact check"


def test_indices_whose_offset_cannot_be_sorted_are_left_out_of_the_ordered_search() -> None:
    q = queries(Mapping(non_numeric_offset={"b": "keyword"}))
    assert q.sortable("_all") == "*,-b"
    assert q.sortable("logs-*") == "logs-*,-b"
    assert {"terms": {"_index": ["b"]}} in q.missing_offset()["bool"]["should"]


def test_one_offset_alone_without_what_was_read() -> None:
    body = queries(Mapping()).ordered(7, only=True, skip=frozenset({"y", "x"}))
    assert {"range": {"offset": {"gte": 7, "lte": 7}}} in body["query"]["bool"]["filter"]
    assert body["query"]["bool"]["must_not"] == [{"ids": {"values": ["x", "y"]}}]


def hits(*pairs: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"_id": doc_id, "_source": {}, "sort": [offset]} for doc_id, offset in pairs]


def test_the_cursor_continues_at_the_last_offset_and_guesses_ahead_when_offsets_run_on() -> None:
    cursor = OffsetCursor(3)
    step = cursor.advance(hits(("a", 1), ("b", 2), ("c", 3)))
    assert [h["_id"] for h in step.fresh] == ["a", "b", "c"]
    assert step.following == PageRequest(3)
    assert step.ahead == 5
    step = cursor.advance(hits(("c", 3), ("d", 4)))  # the document at 3 was read already
    assert [h["_id"] for h in step.fresh] == ["d"]
    assert step.following is None


def test_the_cursor_reads_a_crowded_offset_alone_then_moves_past_it() -> None:
    cursor = OffsetCursor(2)
    cursor.advance(hits(("a", 1), ("b", 2)))
    step = cursor.advance(hits(("b", 2), ("c", 2)))
    assert step.ahead is None, "offsets do not run on: nothing is guessed"
    step = cursor.advance(hits(("b", 2), ("c", 2)))  # the same page again: nothing new at offset 2
    assert step.fresh == []
    assert step.following == PageRequest(2, only=True, skip=frozenset({"b", "c"}))
    step = cursor.advance(hits(("d", 2)))
    assert [h["_id"] for h in step.fresh] == ["d"]
    assert step.following == PageRequest(3)
