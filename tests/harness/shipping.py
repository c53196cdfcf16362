"""What Fluent Bit and Fluentd do to a container's stdout, step by step, into a real Elasticsearch.

Neither shipper can be installed here, so this fixture stands for the configurations in
``helm-values/fluent-bit-airflow-logs.yaml`` and ``helm-values/fluentd-airflow-logs.yaml``
(the chart's defaults where those files keep them). :data:`STEPS` names, for each step, the lines of
each configuration it stands for; ``tests/unit/test_shipper_configs.py`` checks that the shipped
files contain them.

1. Container runtime: each stdout line becomes ``{"log": "<line>\\n", "stream": "stdout", "time": …}``.
2. Tail and parse the runtime's JSON: the record is ``{"log", "stream"}``, its time is ``time``.
3. Kubernetes metadata: ``kubernetes.pod_name``, ``namespace_name``, ``host`` (the node), ``labels`` …
   (Fluentd also adds ``docker.container_id``).
4. Parse the line as JSON: its fields join the record and ``log`` is removed. A line that is not JSON
   keeps its ``log``.
5. Only Airflow's lines, those with a ``log_id``, go to the task log indices. Every other line of the
   Airflow pods that run task code (labels ``tier=airflow``, ``component`` in
   :data:`TASK_COMPONENTS`) is dropped: Airflow echoes task output there unmasked. Other lines go on
   to the chart's default output (:data:`OTHER_PREFIX` indices) when ``ship_others`` is set.
6. Daily indices ``airflow-logs-YYYY.MM.DD`` (UTC; Fluent Bit dates by the record's time, Fluentd by
   the line's ``@timestamp``) and ``_id``\\ s that a resent record gets again.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FLUENT_BIT = "fluent-bit"
FLUENTD = "fluentd"
FLAVOURS = (FLUENT_BIT, FLUENTD)
ENGINES = ("elasticsearch", "opensearch")
INDEX_PREFIX = "airflow-logs"
OTHER_PREFIX = "logstash"  # the outputs' default Logstash_Prefix / logstash_prefix
TASK_COMPONENTS = ("worker", "scheduler", "triggerer", "dag-processor")

# step -> flavour -> configuration lines it stands for (in the chart's defaults or in helm-values/)
STEPS: dict[str, dict[str, tuple[str, ...]]] = {
    "tail and parse the runtime's JSON": {
        FLUENT_BIT: ("Name tail", "multiline.parser docker, cri", "Tag kube.*"),
        FLUENTD: ("@type tail", "@type multi_format", "format json", "time_key time", "keep_time_key false"),
    },
    "kubernetes metadata": {
        FLUENT_BIT: ("Name kubernetes", "Match kube.*"),
        FLUENTD: ("@type kubernetes_metadata",),
    },
    "parse the line as JSON": {
        FLUENT_BIT: ("Merge_Log On", "Keep_Log Off"),
        FLUENTD: (
            "@type parser",
            "key_name log",
            "reserve_data true",
            "remove_key_name_field true",
            "@type json",
        ),
    },
    "only Airflow's lines": {
        FLUENT_BIT: ("Name rewrite_tag", "Rule $log_id ^.+$ airflow.$TAG false", "Match airflow.*"),
        FLUENTD: ("@type copy", "@label @AIRFLOW", "key log_id", "pattern /.+/", 'pattern /"log_id":/'),
    },
    "drop the rest of the Airflow task pods' lines": {
        FLUENT_BIT: (
            "Name grep",
            "Logical_Op And",
            "Exclude $kubernetes['labels']['tier'] ^airflow$",
            f"Exclude $kubernetes['labels']['component'] ^({'|'.join(TASK_COMPONENTS)})$",
        ),
        FLUENTD: (
            "key $.kubernetes.labels.tier",
            "pattern /^airflow$/",
            "key $.kubernetes.labels.component",
            f"pattern /^({'|'.join(TASK_COMPONENTS)})$/",
        ),
    },
    "daily indices and stable ids": {
        FLUENT_BIT: (
            "Logstash_Format On",
            f"Logstash_Prefix {INDEX_PREFIX}",
            "Time_Key ingest_time",
            "Generate_ID On",
            "Suppress_Type_Name On",
        ),
        FLUENTD: (
            "logstash_format true",
            f"logstash_prefix {INDEX_PREFIX}",
            "@type {engine}_genid",
            "record_keys log_id,offset",
            "id_key _hash",
            "suppress_type_name true",
        ),
    },
}


# fluent-plugin-opensearch has no mapping types to suppress
ELASTICSEARCH_ONLY = {"suppress_type_name true"}


def config_lines(flavour: str, engine: str) -> list[str]:
    """The configuration lines :data:`STEPS` stands for, in ``flavour``'s values for ``engine``."""
    lines = [line.format(engine=engine) for step in STEPS.values() for line in step[flavour]]
    return [line for line in lines if engine == "elasticsearch" or line not in ELASTICSEARCH_ONLY]


def is_airflow_task_pod(record: dict[str, Any]) -> bool:
    """Whether the record comes from an Airflow pod that runs task code (the chart's labels)."""
    labels = record.get("kubernetes", {}).get("labels", {})
    return labels.get("tier") == "airflow" and labels.get("component") in TASK_COMPONENTS


def rfc3339(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


class FluentShipper:
    """Index stdout lines the way ``flavour`` (Fluent Bit or Fluentd) configured by helm-values does."""

    def __init__(
        self,
        client: Any,
        flavour: str,
        *,
        index_prefix: str = INDEX_PREFIX,
        parse_json: bool = True,
        pod: str = "airflow-worker-0",
        namespace: str = "airflow",
        node: str = "node-a",
        container: str = "worker",
        component: str = "worker",
        ship_others: bool = False,
        other_prefix: str = OTHER_PREFIX,
        drop_task_pod_lines: bool = True,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(flavour)
        self.client = client
        self.flavour = flavour
        self.index_prefix = index_prefix
        self.parse_json = parse_json
        self.ship_others = ship_others
        self.other_prefix = other_prefix
        self.drop_task_pod_lines = drop_task_pod_lines
        container_id = hashlib.sha256(pod.encode()).hexdigest()
        self.kubernetes = {
            "pod_name": pod,
            "namespace_name": namespace,
            "pod_id": hashlib.md5(pod.encode()).hexdigest(),  # noqa: S324 - an id, not security
            "host": node,
            "container_name": container,
            "container_image": "registry.example.com/airflow-platform:3.3.2",
            "labels": {"tier": "airflow", "component": component, "release": "airflow"},
        }
        if flavour == FLUENT_BIT:
            self.kubernetes |= {"docker_id": container_id, "container_hash": "sha256:" + container_id}
        self.container_id = container_id
        self.indexed = 0

    # -- the steps ---------------------------------------------------------------------------------

    @staticmethod
    def container_line(line: bytes, when: datetime) -> bytes:
        """Step 1: the container runtime's record of one stdout line."""
        text = line.decode("utf-8", "replace")
        return json.dumps({"log": text + "\n", "stream": "stdout", "time": rfc3339(when)}).encode()

    @staticmethod
    def parse_container_line(raw: bytes) -> tuple[str, dict[str, Any]]:
        """Step 2: the record and its time."""
        record = json.loads(raw)
        return record.pop("time"), record

    def add_metadata(self, record: dict[str, Any]) -> dict[str, Any]:
        """Step 3."""
        record["kubernetes"] = json.loads(json.dumps(self.kubernetes))
        if self.flavour == FLUENTD:
            record["docker"] = {"container_id": self.container_id}
        return record

    def parse_line(self, record: dict[str, Any]) -> dict[str, Any]:
        """Step 4."""
        if not self.parse_json:
            return record
        try:
            fields = json.loads(record["log"])
        except ValueError:
            return record
        if not isinstance(fields, dict):
            return record
        merged = {k: v for k, v in record.items() if k != "log"}
        merged.update(fields)
        return merged

    def is_airflow_line(self, record: dict[str, Any]) -> bool:
        """Step 5 (without parsing, stands for a config that routes by the raw text instead)."""
        if self.parse_json:
            return bool(record.get("log_id"))
        return '"log_id"' in record.get("log", "")

    def index_and_id(
        self, time: str, record: dict[str, Any], prefix: str | None = None
    ) -> tuple[str, str, dict[str, Any]]:
        """Step 6."""
        if self.flavour == FLUENT_BIT:
            when = time
            record = {**record, "ingest_time": time}
        else:
            when = record.get("@timestamp") or time
            if "@timestamp" not in record:
                record = {**record, "@timestamp": time}
        day = datetime.fromisoformat(str(when).replace("Z", "+00:00")).astimezone(timezone.utc)
        if self.flavour == FLUENTD and "log_id" in record and "offset" in record:
            seed = f"{record['log_id']}_{record['offset']}"  # elasticsearch_genid, record_keys log_id,offset
        else:  # Fluent Bit's Generate_ID (and a config without the parse step): a hash of the record
            seed = json.dumps(record, sort_keys=True, ensure_ascii=False)
        return (
            f"{prefix or self.index_prefix}-{day:%Y.%m.%d}",
            hashlib.sha1(seed.encode()).hexdigest(),  # noqa: S324 - an id, not security
            record,
        )

    # -- shipping ----------------------------------------------------------------------------------

    def documents(
        self, lines: Iterable[bytes], when: datetime | None = None
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """``(index, _id, document)`` for each Airflow line among ``lines`` (and each other line the
        configuration ships, with ``ship_others``)."""
        return self.container_documents(
            self.container_line(line, when or datetime.now(timezone.utc)) for line in lines if line.strip()
        )

    def container_documents(self, raw: Iterable[bytes]) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """:meth:`documents` of the container runtime's records (step 1 done already)."""
        for line in raw:
            if not line.strip():
                continue
            time, record = self.parse_container_line(line)
            record = self.parse_line(self.add_metadata(record))
            if self.is_airflow_line(record):
                yield self.index_and_id(time, record)
            elif self.ship_others and not (self.drop_task_pod_lines and is_airflow_task_pod(record)):
                yield self.index_and_id(time, record, self.other_prefix)

    def ship(self, lines: Iterable[bytes], when: datetime | None = None, *, refresh: bool = True) -> int:
        """Index the Airflow lines among ``lines`` with ``_bulk``; the number of documents."""
        return self._index(self.documents(lines, when), refresh)

    def ship_container_lines(self, raw: Iterable[bytes], *, refresh: bool = True) -> int:
        """:meth:`ship` for lines of a container log file (the runtime's records)."""
        return self._index(self.container_documents(raw), refresh)

    def _index(self, documents: Iterable[tuple[str, str, dict[str, Any]]], refresh: bool) -> int:
        count = 0
        body: list[bytes] = []
        size = 0
        for index, doc_id, doc in documents:
            action = json.dumps({"index": {"_index": index, "_id": doc_id}}).encode()
            body += [action, json.dumps(doc, ensure_ascii=False).encode()]
            size += len(body[-1])
            count += 1
            if size > 8 << 20:
                self._bulk(body)
                body, size = [], 0
        if body:
            self._bulk(body)
        if refresh and count:
            others = f",{self.other_prefix}-*" if self.ship_others else ""
            self.client.indices.refresh(index=f"{self.index_prefix}-*{others}")
        self.indexed += count
        return count

    def _bulk(self, lines: list[bytes]) -> None:
        response = self.client.bulk(operations=b"\n".join(lines) + b"\n", filter_path="errors,items.*.error")
        if response.get("errors"):
            errors = [item for item in response["items"] if next(iter(item.values())).get("error")]
            raise RuntimeError(f"bulk indexing failed: {errors[:3]}")


class StdoutFollower:
    """Follow a component's stdout file as the shipper's tail input does, shipping new lines."""

    def __init__(
        self, shipper: FluentShipper, path: Path, *, from_start: bool = False, interval: float = 0.2
    ) -> None:
        self.shipper = shipper
        self.path = path
        self.interval = interval
        self._pos = 0 if from_start or not path.exists() else path.stat().st_size
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"follow-{path.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> int:
        """Ship what was appended since the last poll (complete lines only)."""
        with self._lock:
            try:
                with open(self.path, "rb") as f:
                    f.seek(self._pos)
                    data = f.read()
            except FileNotFoundError:
                return 0
            end = data.rfind(b"\n")
            if end < 0:
                return 0
            self._pos += end + 1
            return self.shipper.ship(data[: end + 1].split(b"\n"))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.poll()
