"""What to ask Elasticsearch for one try's log, given how the indices map its fields (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_platform_plugins.task_logs.es.shapes import TEXT_FIELDS, source_excludes

NUMERIC = frozenset(
    {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"}
)


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

    def request(self, page: PageRequest) -> dict[str, Any]:
        """The search body of ``page``."""
        return self.ordered(page.start, only=page.only, skip=page.skip)

    def analysed_notice(self) -> str | None:
        """What to tell the reader when ``log_id`` is analysed text somewhere (else ``None``)."""
        if not self.mapping.analysed:
            return None
        return (
            f"log_id is mapped as analysed text in {', '.join(self.mapping.analysed)}: matched through "
            f"{'log_id.keyword' if self.mapping.text_keyword else 'a phrase search'} and checked exactly; "
            "install the index template (see the docs) for exact matches"
        )

    def unordered_notice(self, count: int, *, text: bool) -> str:
        """The line that introduces the documents that cannot be ordered by offset."""
        if text:
            return (
                f"{count} documents hold lines of this log only as text in `log` or `message`, without a "
                "log_id field (the shipper did not parse the JSON line); they are shown by time"
            )
        reasons = ["missing or not a number"]
        reasons += [
            f"{self.offset_field} is mapped as {kind} in {index}"
            for index, kind in sorted(self.mapping.non_numeric_offset.items())
        ]
        return (
            f"{count} documents of this log have no numeric {self.offset_field} "
            f"({'; '.join(reasons)}); they are shown by time"
        )

    @staticmethod
    def by_time() -> list[dict[str, Any]]:
        """The order of documents that have no usable offset."""
        return [
            {"@timestamp": {"order": "asc", "unmapped_type": "date", "missing": "_last"}},
            {"timestamp": {"order": "asc", "unmapped_type": "date", "missing": "_last"}},
        ]


Hit = dict[str, Any]
"""A search hit: ``_id``, ``_source`` and ``sort`` (the offset first)."""


@dataclass(frozen=True)
class PageRequest:
    """A page of the ordered stream: offsets from ``start`` (only ``start`` with ``only``), minus ``skip``."""

    start: int
    only: bool = False
    skip: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PageStep:
    """What one page of the ordered stream gives, and what to read next."""

    fresh: list[Hit]
    """The page's documents not seen before, in order."""
    following: PageRequest | None
    """The next page (``None``: the log is read)."""
    ahead: int | None
    """The start of the page after ``following``, worth fetching now (offsets run consecutively)."""


class OffsetCursor:
    """Where the ordered stream goes next, page after page, so that each document comes once (pure).

    Each page is ``offset >= last`` of the page before; the documents at ``last`` that were read
    already come back first and are skipped. When offsets run consecutively (one writer's lines), the
    page after the next one starts at a known offset, so it can be fetched ahead. A whole page of one
    offset is followed by the rest of that offset, read alone (a "pile").
    """

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self._seen_offset: Any = None
        self._seen_ids: set[str] = set()
        self.pile: int | None = None
        """An offset shared by more documents than a page holds, being read alone."""

    def advance(self, hits: list[Hit]) -> PageStep:
        """Take the page ``hits`` (the answer to the previous step's ``following``)."""
        fresh = [h for h in hits if h["sort"][0] != self._seen_offset or h["_id"] not in self._seen_ids]
        for hit in fresh:
            if hit["sort"][0] != self._seen_offset:
                self._seen_offset, self._seen_ids = hit["sort"][0], set()
            self._seen_ids.add(hit["_id"])
        full = len(hits) >= self.page_size
        if self.pile is not None:  # the rest of that offset, then what follows it
            if full:
                return PageStep(fresh, PageRequest(self.pile, True, frozenset(self._seen_ids)), None)
            start, self.pile = self.pile + 1, None
            return PageStep(fresh, PageRequest(start), None)
        if not full:
            return PageStep(fresh, None, None)
        last = hits[-1]["sort"][0]
        if not fresh:  # a whole page of one offset, read already
            self.pile = last
            return PageStep(fresh, PageRequest(last, True, frozenset(self._seen_ids)), None)
        consecutive = last - hits[0]["sort"][0] == len(hits) - 1
        return PageStep(fresh, PageRequest(last), last + self.page_size - 1 if consecutive else None)
