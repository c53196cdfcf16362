"""The index template for task log indices: what the documents must carry, and how they are mapped.

``log_id`` must be a ``keyword`` (an exact, unanalysed match), the offset field a ``long`` (numeric
order). Dynamic mapping gets both wrong: it maps a string ``log_id`` as analysed ``text`` (a search
for one try then matches others, and sorting needs the ``.keyword`` sub-field), and it maps an
offset that one shipper sent as a string as ``text``, which cannot be sorted.

Print it, or install it, with::

    python -m airflow_platform_plugins.task_logs.es.template --index-pattern 'airflow-logs-*'
    python -m airflow_platform_plugins.task_logs.es.template --index-pattern 'airflow-logs-*' --install

``--install`` uses ``[elasticsearch] host`` and ``[elasticsearch_configs]`` (or ``--host``); with
``--opensearch``, ``[opensearch]`` and ``[opensearch_configs]``.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

NAME = "airflow-task-logs"
PRIORITY = 200


def _field(dotted: str, mapping: dict[str, Any]) -> dict[str, Any]:
    """``{"a": {"properties": {"b": mapping}}}`` for ``dotted = "a.b"``."""
    *parents, last = dotted.split(".")
    out: dict[str, Any] = {last: mapping}
    for name in reversed(parents):
        out = {name: {"properties": out}}
    return out


def mappings(*, host_field: str = "host", offset_field: str = "offset") -> dict[str, Any]:
    """The mappings of a task log index."""
    keyword = {"type": "keyword", "ignore_above": 1024}
    properties: dict[str, Any] = {
        "log_id": {"type": "keyword"},
        "@timestamp": {"type": "date"},
        "timestamp": {"type": "date", "ignore_malformed": True},
        "event": {"type": "text"},
        "message": {"type": "text"},
        "log": {"type": "text"},
        "level": {"type": "keyword"},
        "levelname": {"type": "keyword"},
        "logger": {"type": "keyword"},
        "chan": {"type": "keyword"},
        "error_detail": {"type": "object", "enabled": False},
        "dag_id": keyword,
        "task_id": keyword,
        "run_id": keyword,
        "map_index": {"type": "integer", "ignore_malformed": True},
        "try_number": {"type": "integer", "ignore_malformed": True},
    }
    # A malformed offset must not cost the line: the document is kept, without a sortable offset.
    for dotted, mapping in (
        (offset_field, {"type": "long", "ignore_malformed": True}),
        (host_field, keyword),
    ):
        _merge(properties, _field(dotted, mapping))
    return {
        "dynamic_templates": [
            {"strings_as_keywords": {"match_mapping_type": "string", "mapping": keyword}},
        ],
        "properties": properties,
    }


def _merge(target: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if key in target and "properties" in target[key] and "properties" in value:
            _merge(target[key]["properties"], value["properties"])
        else:
            target[key] = value


def index_template(
    index_patterns: Sequence[str],
    *,
    host_field: str = "host",
    offset_field: str = "offset",
    settings: dict[str, Any] | None = None,
    sort: bool = True,
) -> dict[str, Any]:
    """A composable index template (``PUT _index_template/airflow-task-logs``) for ``index_patterns``.

    With ``sort`` (the default) each index keeps its documents sorted by ``log_id`` then offset: a log
    is stored in one run, in order, and reading it pages without scanning the rest of the index.
    Indexing pays for the sorting; the setting applies to new indices only.
    """
    index_settings: dict[str, Any] = {}
    if sort:
        index_settings["index.sort.field"] = ["log_id", offset_field]
        index_settings["index.sort.order"] = ["asc", "asc"]
    index_settings.update(settings or {})
    template: dict[str, Any] = {"mappings": mappings(host_field=host_field, offset_field=offset_field)}
    if index_settings:
        template["settings"] = index_settings
    return {
        "index_patterns": list(index_patterns),
        "priority": PRIORITY,
        "template": template,
        "_meta": {"description": "Airflow task logs (airflow-platform-plugins)"},
    }


def template_patterns(target_index: str) -> list[str]:
    """Index patterns that cover what ``write_to_es`` creates for ``target_index`` (date math included)."""
    name = target_index
    if name.startswith("<") and name.endswith(">"):
        name = name[1:-1].split("{", 1)[0]
    return [f"{name.rstrip('-*')}*"]


def covers(theirs: Sequence[str], ours: Sequence[str]) -> bool:
    """Whether the index patterns ``theirs`` match every index that the patterns ``ours`` stand for."""
    return all(any(fnmatch.fnmatchcase(p.replace("*", "0"), t) for t in theirs) for p in ours)


def name_for(patterns: Sequence[str]) -> str:
    """A template name of its own for ``patterns`` (``airflow-task-logs-<first pattern>``)."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", patterns[0].lower()).strip("-_") if patterns else ""
    return f"{NAME}-{slug}" if slug else NAME


def installed_patterns(client: Any, name: str) -> list[str] | None:
    """The index patterns of the template ``name``, or ``None`` when there is no such template."""
    answer = client.options(ignore_status=404).indices.get_index_template(name=name)
    body = getattr(answer, "body", answer)
    templates = body.get("index_templates") if isinstance(body, dict) else None
    if not templates:
        return None
    return [p for t in templates for p in t.get("index_template", {}).get("index_patterns", [])]


def ensure(client: Any, body: dict[str, Any]) -> str | None:
    """Install ``body`` unless a template already covers its patterns; the name written, or ``None``.

    A template named :data:`NAME` that exists is kept (an operator's own, or another writer's). If it
    covers other indices only, as when two Airflow deployments with different target indices share a
    cluster, ``body`` goes in beside it under :func:`name_for` its patterns: an index created without
    a template would map ``log_id`` as analysed text.
    """
    patterns = body["index_patterns"]
    existing = installed_patterns(client, NAME)
    if existing is None:
        return NAME if install(client, body, name=NAME, overwrite=False) else None
    if covers(existing, patterns):
        return None
    name = name_for(patterns)
    return name if install(client, body, name=name, overwrite=False) else None


def install(client: Any, body: dict[str, Any], *, name: str = NAME, overwrite: bool = True) -> bool:
    """Put the template; with ``overwrite=False`` an existing template of that name is kept.

    Returns whether it was written.
    """
    if not overwrite and client.options(ignore_status=404).indices.exists_index_template(name=name):
        return False
    client.indices.put_index_template(name=name, **body)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the template, or install it."""
    parser = argparse.ArgumentParser(description="Print or install the index template for Airflow task logs.")
    parser.add_argument("--index-pattern", action="append", required=True, help="repeat for several")
    parser.add_argument("--host-field", default=None, help="default: [elasticsearch] host_field")
    parser.add_argument("--offset-field", default=None, help="default: [elasticsearch] offset_field")
    parser.add_argument("--replicas", type=int, default=None, help="index.number_of_replicas")
    parser.add_argument(
        "--no-index-sort", action="store_true", help="do not keep documents sorted by log_id and offset"
    )
    parser.add_argument("--install", action="store_true", help="PUT it into the cluster")
    parser.add_argument("--host", default=None, help="default: [elasticsearch] host (or [opensearch] host)")
    parser.add_argument(
        "--opensearch", action="store_true", help="install with [opensearch] and [opensearch_configs]"
    )
    args = parser.parse_args(argv)
    conf: Any = None
    try:
        conf = importlib.import_module("airflow.configuration").conf
    except ImportError:
        conf = None  # printing the template does not need Airflow
    from airflow_platform_plugins import options

    host_field = args.host_field or (options.ES_HOST_FIELD.get(conf) if conf else "host")
    offset_field = args.offset_field or (options.ES_OFFSET_FIELD.get(conf) if conf else "offset")
    settings = {"number_of_replicas": args.replicas} if args.replicas is not None else None
    body = index_template(
        args.index_pattern,
        host_field=host_field,
        offset_field=offset_field,
        settings=settings,
        sort=not args.no_index_sort,
    )
    if not args.install:
        print(json.dumps(body, indent=2))
        return 0
    client: Any
    if args.opensearch:
        from airflow_platform_plugins.task_logs.es.os_settings import build_opensearch, opensearch_settings

        client = build_opensearch(opensearch_settings(conf, host=args.host))
    else:
        from airflow_platform_plugins.task_logs.es.client import build_client, client_settings

        client = build_client(client_settings(conf, host=args.host))
    install(client, body)
    print(f"installed index template {NAME!r} for {', '.join(args.index_pattern)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
