"""What to ask Elasticsearch for one try's log, given how the indices map its fields (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_platform_plugins.task_logs.es.shapes import source_excludes

NUMERIC = frozenset(
    {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"}
)
TEXT_FIELDS = ["log", "message"]


@dataclass
class Mapping:
    """How the searched indices map ``log_id`` and the offset field."""

    exact: list[str] = field(default_factory=list)
    """Indices where ``log_id`` is a keyword."""
    text_keyword: list[str] = field(default_factory=list)
    """``log_id`` is analysed text with a ``.keyword`` sub-field (dynamic mapping)."""
    text_only: list[str] = field(default_factory=list)
    non_numeric_offset: dict[str, str] = field(default_factory=dict)
    """Index -> the offset field's type, where it cannot be sorted numerically."""

    @property
    def analysed(self) -> list[str]:
        """Indices where ``log_id`` is analysed text."""
        return self.text_keyword + self.text_only

    @classmethod
    def from_field_mappings(cls, response: dict[str, Any], offset_field: str) -> Mapping:
        """From ``GET <indices>/_mapping/field/log_id,log_id.keyword,<offset_field>``."""
        mapping = cls()
        for index, body in sorted(response.items()):
            fields = body.get("mappings", {})
            log_id_type = _type(fields, "log_id")
            if log_id_type == "keyword":
                mapping.exact.append(index)
            elif log_id_type == "text":
                (mapping.text_keyword if "log_id.keyword" in fields else mapping.text_only).append(index)
            offset_type = _type(fields, offset_field)
            if offset_type is not None and offset_type not in NUMERIC:
                mapping.non_numeric_offset[index] = offset_type
        return mapping


def _type(fields: dict[str, Any], name: str) -> str | None:
    entry = fields.get(name)
    if not entry:
        return None
    leaf = name.rsplit(".", 1)[-1]
    kind = entry.get("mapping", {}).get(leaf, {}).get("type")
    return str(kind) if kind is not None else None


class Queries:
    """Search bodies for one log in indices mapped as ``mapping``."""

    def __init__(
        self, log_id: str, mapping: Mapping, *, offset_field: str, host_field: str, page_size: int
    ) -> None:
        self.log_id = log_id
        self.mapping = mapping
        self.offset_field = offset_field
        self.page_size = page_size
        # Only what the reader shows comes back; log_id too when it must be checked exactly.
        self.excludes = [
            f for f in source_excludes(host_field, offset_field) if not (f == "log_id" and mapping.analysed)
        ]

    def log_clause(self) -> dict[str, Any]:
        """Matches the log's documents: an exact term, or candidates to check exactly when analysed."""
        if not self.mapping.analysed:
            return {"term": {"log_id": self.log_id}}
        should: list[dict[str, Any]] = [{"term": {"log_id": self.log_id}}]
        if self.mapping.text_keyword:
            should.append({"term": {"log_id.keyword": self.log_id}})
        if self.mapping.text_only:
            should.append({"match_phrase": {"log_id": self.log_id}})
        return {"bool": {"should": should, "minimum_should_match": 1}}

    def sortable(self, indices: str) -> str:
        """``indices`` without those where the offset cannot be sorted (a sort there fails the search)."""
        if not self.mapping.non_numeric_offset:
            return indices
        base = "*" if indices.strip() == "_all" else indices
        return ",".join([base, *(f"-{index}" for index in sorted(self.mapping.non_numeric_offset))])

    def ordered(self, start: int | None, *, only: bool = False, skip: Any = ()) -> dict[str, Any]:
        """A page of the ordered stream: documents with a numeric offset of at least ``start``.

        With ``only``: exactly ``start``. Documents whose ``_id`` is in ``skip`` are left out.
        """
        filters = [self.log_clause(), {"exists": {"field": self.offset_field}}]
        if start is not None:
            bounds = {"gte": start, "lte": start} if only else {"gte": start}
            filters.append({"range": {self.offset_field: bounds}})
        query: dict[str, Any] = {"filter": filters}
        if skip:
            query["must_not"] = [{"ids": {"values": sorted(skip)}}]
        return {
            "query": {"bool": query},
            "sort": [{self.offset_field: {"order": "asc", "unmapped_type": "long"}}],
            "size": self.page_size,
            "track_total_hits": False,
            "_source": {"excludes": self.excludes},
        }

    def missing_offset(self) -> dict[str, Any]:
        """The log's documents without a sortable offset."""
        should: list[dict[str, Any]] = [{"bool": {"must_not": {"exists": {"field": self.offset_field}}}}]
        if self.mapping.non_numeric_offset:
            should.append({"terms": {"_index": sorted(self.mapping.non_numeric_offset)}})
        return {"bool": {"filter": [self.log_clause()], "should": should, "minimum_should_match": 1}}

    def text_only(self) -> dict[str, Any]:
        """Documents without a ``log_id`` field whose raw text names the log."""
        phrase = {
            "multi_match": {"query": self.log_id, "type": "phrase", "fields": TEXT_FIELDS, "lenient": True}
        }
        return {"bool": {"must_not": {"exists": {"field": "log_id"}}, "filter": [phrase]}}

    @staticmethod
    def by_time() -> list[dict[str, Any]]:
        """The order of documents that have no usable offset."""
        return [
            {"@timestamp": {"order": "asc", "unmapped_type": "date", "missing": "_last"}},
            {"timestamp": {"order": "asc", "unmapped_type": "date", "missing": "_last"}},
        ]
