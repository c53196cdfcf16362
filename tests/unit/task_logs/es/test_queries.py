from __future__ import annotations

from airflow_platform_plugins.task_logs.es.queries import Mapping, Queries

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
