"""Where secrets went: a component's stdout, the documents a shipper makes of it, a store's indices.

Engine-agnostic: the store is reached through ``request(method, path, body)`` (the node harnesses'
``request``), so the same checks run against Elasticsearch and OpenSearch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Request = Callable[[str, str, Any], Any]
MAX_DOCUMENTS = 500_000  # a bound on the scan; the test stores hold far fewer


def secrets_in(data: str | bytes, secrets: Iterable[str]) -> list[str]:
    """The secrets that occur in ``data``."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [secret for secret in secrets if secret in text]


def documents(request: Request, index: str = "*", page: int = 1_000) -> Iterator[dict[str, Any]]:
    """Every document ``_source`` in ``index`` (a scroll: memory stays bounded)."""
    request("POST", f"/{index}/_refresh?ignore_unavailable=true&allow_no_indices=true", None)
    response = request(
        "POST",
        f"/{index}/_search?scroll=1m&ignore_unavailable=true&allow_no_indices=true",
        {"size": page, "sort": ["_doc"], "query": {"match_all": {}}},
    )
    seen = 0
    try:  # the first request raised: no scroll to clear
        while response["hits"]["hits"]:
            for hit in response["hits"]["hits"]:
                yield {"_index": hit["_index"], **hit["_source"]}
            seen += len(response["hits"]["hits"])
            if seen >= MAX_DOCUMENTS:
                raise AssertionError(f"more than {MAX_DOCUMENTS} documents in {index}: scan stopped")
            scroll = {"scroll": "1m", "scroll_id": response["_scroll_id"]}
            response = request("POST", "/_search/scroll", scroll)
    finally:
        if response.get("_scroll_id"):
            request("DELETE", "/_search/scroll", {"scroll_id": response["_scroll_id"]})


def indexed_secrets(request: Request, secrets: Iterable[str], index: str = "*") -> dict[str, list[str]]:
    """For each secret found in a document of ``index``: the indices holding it."""
    wanted = list(secrets)
    found: dict[str, list[str]] = {}
    for doc in documents(request, index):
        for secret in secrets_in(json.dumps(doc, ensure_ascii=False), wanted):
            found.setdefault(secret, []).append(doc["_index"])
    return found
