"""Every setting this package reads: the single source of truth for code and documentation.

Settings live where Airflow users expect them: Airflow's own options keep their names (``[logging]
remote_base_log_folder``, ``[logging] encrypt_s3_logs`` ...), and this package's own options are in the
``[platform_logging]`` section (environment: ``AIRFLOW__PLATFORM_LOGGING__<KEY>``). JWT-header
sign-on is configured in ``webserver_config.py``, next to Flask-AppBuilder's own keys
(:mod:`airflow_platform_plugins.auth.config_keys`).
``docs/configuration.md`` is generated from this module and the sign-on keys
(``python -m airflow_platform_plugins.reference``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SECTION = "platform_logging"


class ConfigError(ValueError):
    """A setting has a value this package cannot use; the message names the setting."""


@dataclass(frozen=True)
class Option:
    """One ``airflow.cfg`` option."""

    section: str
    key: str
    default: str
    kind: str  # "string" | "boolean" | "integer" | "float" | "seconds" | "bytes"
    description: str
    ours: bool = True
    minimum: float | None = None

    @property
    def name(self) -> str:
        """``[section] key``, the way Airflow's documentation names options."""
        return f"[{self.section}] {self.key}"

    @property
    def env_var(self) -> str:
        """The environment variable that sets this option."""
        return f"AIRFLOW__{self.section.upper()}__{self.key.upper()}"

    def get(self, conf: Any) -> Any:
        """Read and validate the option from Airflow's ``conf``; raise :class:`ConfigError` if invalid."""
        raw = conf.get(self.section, self.key, fallback=self.default)
        raw = self.default if raw is None else str(raw).strip()
        return self.parse(raw)

    def parse(self, raw: str) -> Any:
        """Convert ``raw`` to this option's type; raise :class:`ConfigError` naming the option if invalid."""
        parser = _airflow_boolean if self.kind == "boolean" and not self.ours else _PARSERS[self.kind]
        try:
            value = parser(raw)
        except ValueError:
            raise ConfigError(f"{self.name} must be {_EXPECTED[self.kind]}, got {raw!r}") from None
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"{self.name} must be at least {self.minimum:g}, got {raw!r}")
        return value


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("true", "t", "1", "yes", "on"):
        return True
    if lowered in ("false", "f", "0", "no", "off", ""):
        return False
    raise ValueError(raw)


def _airflow_boolean(raw: str) -> bool:
    """Airflow's own ``conf.getboolean``: a ``#`` comment dropped, then t/true/1 or f/false/0 only."""
    lowered = raw.lower().strip()
    if "#" in lowered:
        lowered = lowered.split("#")[0].strip()
    if lowered in ("t", "true", "1"):
        return True
    if lowered in ("f", "false", "0"):
        return False
    raise ValueError(raw)


_PARSERS: dict[str, Callable[[str], Any]] = {
    "string": str,
    "boolean": _boolean,
    "integer": int,
    "float": float,
    "seconds": float,
    "bytes": int,
}
_EXPECTED = {
    "string": "a string",
    "boolean": "true or false",
    "integer": "a whole number",
    "float": "a number",
    "seconds": "a number of seconds",
    "bytes": "a number of bytes",
}


def _airflow(section: str, key: str, default: str, kind: str, description: str) -> Option:
    return Option(section, key, default, kind, description, ours=False)


# Airflow's own options that this package honours.
REMOTE_LOGGING = _airflow(
    "logging", "remote_logging", "False", "boolean", "Turns remote task logs on, as in Airflow."
)
REMOTE_BASE_LOG_FOLDER = _airflow(
    "logging",
    "remote_base_log_folder",
    "",
    "string",
    "Where task logs go. The scheme picks the backend: ``s3://bucket/prefix`` selects S3, "
    "``gs://bucket/prefix`` selects GCS.",
)
REMOTE_LOG_CONN_ID = _airflow(
    "logging",
    "remote_log_conn_id",
    "",
    "string",
    "Airflow connection with the store's credentials. Empty: the client's default credential chain "
    "(IRSA, instance profile, environment).",
)
BASE_LOG_FOLDER = _airflow(
    "logging", "base_log_folder", "", "string", "Where the worker writes the local log files, as in Airflow."
)
DELETE_LOCAL_LOGS = _airflow(
    "logging",
    "delete_local_logs",
    "False",
    "boolean",
    "Delete a try's local log file once the store holds all of it (never before).",
)
ENCRYPT_S3_LOGS = _airflow(
    "logging",
    "encrypt_s3_logs",
    "False",
    "boolean",
    "S3: ask for server-side encryption with S3-managed keys (``AES256``), as in the amazon provider.",
)
DAG_PROCESSOR_LOG_DIRECTORY = _airflow(
    "logging",
    "dag_processor_child_process_log_directory",
    "",
    "string",
    "Logs of the dag-processor live here; they are never shipped as task logs.",
)
GOOGLE_KEY_PATH = _airflow(
    "logging",
    "google_key_path",
    "",
    "string",
    "GCS: service account key file, used when the connection has no key. Empty: Application Default "
    "Credentials (Workload Identity).",
)
WASB_CONTAINER = _airflow(
    "azure_remote_logging",
    "remote_wasb_log_container",
    "airflow-logs",
    "string",
    "Azure Blob: the container for task logs (a ``wasb`` folder is the path inside it), as in the "
    "microsoft-azure provider.",
)
S3_ACL_POLICY = _airflow(
    "aws",
    "s3_task_handler_acl_policy",
    "",
    "string",
    "S3: canned ACL for log objects (for example ``bucket-owner-full-control``), as in the amazon provider.",
)

# This package's own options.
FLUSH_INTERVAL = Option(
    SECTION,
    "flush_interval",
    "3",
    "seconds",
    "A logged line is in the store at most this long after it was logged, while the task runs. "
    "A killed pod loses at most this much of its log.",
    minimum=0.1,
)
FLUSH_BYTES = Option(
    SECTION,
    "flush_bytes",
    "1048576",
    "bytes",
    "Ship as soon as this many new bytes are waiting, without waiting for ``flush_interval``.",
    minimum=1,
)
CHUNK_MAX_BYTES = Option(
    SECTION,
    "chunk_max_bytes",
    "16777216",
    "bytes",
    "Largest object written at once; a larger backlog (a long log uploaded at the end) is split and "
    "uploaded in parallel.",
    minimum=1024,
)
UPLOAD_CONCURRENCY = Option(
    SECTION,
    "upload_concurrency",
    "8",
    "integer",
    "Parallel uploads when a backlog is split into several objects (also capped by the store: 16 for "
    "S3, 8 for GCS, 1 for Azure Blob, whose client holds each body in memory).",
    minimum=1,
)
UPLOAD_TIMEOUT = Option(
    SECTION,
    "upload_timeout",
    "30",
    "seconds",
    "How long the end-of-try upload waits for an unreachable store before it leaves the log on disk "
    "as pending (shipped later by this or the next process on the host).",
    minimum=0,
)
RETRY_MAX_DELAY = Option(
    SECTION,
    "retry_max_delay",
    "60",
    "seconds",
    "Longest pause between retries while the store fails (retries back off exponentially up to this).",
    minimum=0.1,
)
READ_PREFETCH_BYTES = Option(
    SECTION,
    "read_prefetch_bytes",
    "16777216",
    "bytes",
    "Reading: bytes fetched ahead in parallel (ranged reads of up to 8 MiB, counting the 8 MiB range"
    " the Azure client holds whole); bounds the reader's memory.",
    minimum=0,
)
AZURE_ACCOUNT_URL = Option(
    SECTION,
    "azure_account_url",
    "",
    "string",
    "Azure Blob: the account's blob endpoint (``https://<account>.blob.core.windows.net``), used with "
    "the default credential chain (workload or managed identity) when ``[logging] remote_log_conn_id`` "
    "is empty, or when the connection has neither host nor login.",
)
S3_SSE = Option(
    SECTION,
    "s3_server_side_encryption",
    "",
    "string",
    "S3: ``AES256`` or ``aws:kms``. Overrides ``[logging] encrypt_s3_logs``.",
)
S3_SSE_KMS_KEY_ID = Option(
    SECTION,
    "s3_sse_kms_key_id",
    "",
    "string",
    "S3: KMS key id or ARN for ``aws:kms`` (setting it implies ``aws:kms``). Empty: the bucket's "
    "default KMS key.",
)

# The elasticsearch provider's [elasticsearch] options, honoured with the provider's names and defaults.
ES = "elasticsearch"
ES_HOST = _airflow(
    ES,
    "host",
    "",
    "string",
    "Elasticsearch URL (``https://user:password@host:9200``). Set, with ``remote_base_log_folder`` not an "
    "object-store URL, it selects the Elasticsearch backend, as in Airflow. Client options (``api_key``, "
    "``ca_certs``, ``verify_certs``, ``request_timeout`` ...) go in ``[elasticsearch_configs]``.",
)
ES_LOG_ID_TEMPLATE = _airflow(
    ES,
    "log_id_template",
    "{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}",
    "string",
    "Elasticsearch: the ``log_id`` of a try; fields ``dag_id``, ``task_id``, ``run_id``, ``map_index``, "
    "``try_number``.",
)
ES_WRITE_STDOUT = _airflow(
    ES,
    "write_stdout",
    "False",
    "boolean",
    "Elasticsearch: write each line of a try, as it is logged, to the worker's stdout as a JSON document "
    "(``log_id``, ``offset``, ``@timestamp`` ...) for Fluentd or Fluent Bit to ship.",
)
ES_WRITE_TO_ES = _airflow(
    ES,
    "write_to_es",
    "False",
    "boolean",
    "Elasticsearch: index the lines into ``target_index`` directly while the try runs (for clusters without "
    "a shipper); retried, never duplicated.",
)
ES_TARGET_INDEX = _airflow(
    ES,
    "target_index",
    "airflow-logs",
    "string",
    "Elasticsearch: index (or alias, or data stream; date math allowed) that ``write_to_es`` writes to.",
)
ES_JSON_FORMAT = _airflow(
    ES,
    "json_format",
    "False",
    "boolean",
    "Elasticsearch: also write the ``json_fields`` into each document, as the provider's JSON formatter "
    "does (``asctime``, ``levelname`` ... from the line). Lines for the shipper are JSON either way, "
    "because ``log_id`` and ``offset`` need it; documents written with ``json_format`` are read either way.",
)
ES_JSON_FIELDS = _airflow(
    ES,
    "json_fields",
    "asctime, filename, lineno, levelname, message",
    "string",
    "Elasticsearch: with ``json_format``, the fields each document also gets: ``asctime`` (the line's "
    "timestamp), ``levelname`` (its level, upper case), ``message``, and any other field the line has "
    "(``filename``, ``lineno`` ...). Documents with these fields are read and shown either way.",
)
ES_HOST_FIELD = _airflow(
    ES,
    "host_field",
    "host",
    "string",
    "Elasticsearch: field holding the writer's host name (``host`` or ``host.name``).",
)
ES_OFFSET_FIELD = _airflow(
    ES,
    "offset_field",
    "offset",
    "string",
    "Elasticsearch: field holding a line's position in its log (``offset`` or ``log.offset``).",
)
ES_INDEX_PATTERNS = _airflow(
    ES,
    "index_patterns",
    "_all",
    "string",
    "Elasticsearch: comma-separated index patterns searched when reading (``airflow-logs-*`` for daily "
    "logstash-style indices).",
)
ES_INDEX_PATTERNS_CALLABLE = _airflow(
    ES,
    "index_patterns_callable",
    "",
    "string",
    "Elasticsearch: dotted path of a callable taking the task instance and returning index patterns; "
    "wins over ``index_patterns``.",
)
ES_FRONTEND = _airflow(
    ES,
    "frontend",
    "",
    "string",
    "Elasticsearch: URL template of a Kibana view with ``{log_id}``; the UI links each try's log there.",
)
ES_COMPAT_WITH = _airflow(
    ES,
    "es_compat_with",
    "",
    "string",
    "Elasticsearch: server major version to negotiate (``8`` for an Elasticsearch 8 cluster with the 9 "
    "client), as in the provider.",
)
# This package's own Elasticsearch options.
ES_READ_PAGE_SIZE = Option(
    SECTION,
    "es_read_page_size",
    "5000",
    "integer",
    "Elasticsearch: documents fetched per search while reading (one page is read ahead); bounds the "
    "reader's memory. The provider's ``max_lines_per_page`` is not used.",
    minimum=100,
)
ES_BULK_MAX_BYTES = Option(
    SECTION,
    "es_bulk_max_bytes",
    "2097152",
    "bytes",
    "Elasticsearch ``write_to_es``: most log bytes sent at once (as two parallel bulk requests when "
    "large); a larger backlog is sent in several rounds.",
    minimum=4096,
)
ES_INSTALL_TEMPLATE = Option(
    SECTION,
    "es_install_template",
    "True",
    "boolean",
    "Elasticsearch ``write_to_es``: create this package's index template (``airflow-task-logs``) for "
    "``target_index`` when no template of that name exists; if one exists for other indices only, ours "
    "goes in beside it as ``airflow-task-logs-<target_index>``. An existing template is never changed.",
)

# The opensearch provider's [opensearch] options, honoured with the provider's names and defaults. The
# reading, writing and shipping work as for Elasticsearch (one shared core).
OS = "opensearch"
OS_HOST = _airflow(
    OS,
    "host",
    "",
    "string",
    "OpenSearch host or URL (``https://search-x.eu-west-1.es.amazonaws.com``; ``http://`` when no scheme is "
    "given, as in the provider). Set, with ``remote_base_log_folder`` not an object-store URL and no "
    "``[elasticsearch] host``, it selects the OpenSearch backend, as in Airflow. Client options "
    "(``use_ssl``, ``verify_certs``, ``ca_certs``, ``timeout`` ...) go in ``[opensearch_configs]``.",
)
OS_PORT = _airflow(
    OS,
    "port",
    "",
    "string",
    "OpenSearch: the port; empty: the one in ``host``, else 9200 (as the provider).",
)
OS_USERNAME = _airflow(
    OS,
    "username",
    "",
    "string",
    "OpenSearch: user for HTTP basic authentication (empty: none, or SigV4 when ``opensearch_aws_sigv4``).",
)
OS_PASSWORD = _airflow(OS, "password", "", "string", "OpenSearch: password of ``username``.")
OS_LOG_ID_TEMPLATE = _airflow(
    OS,
    "log_id_template",
    "{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}",
    "string",
    "OpenSearch: the ``log_id`` of a try; fields ``dag_id``, ``task_id``, ``run_id``, ``map_index``, "
    "``try_number`` (honoured when reading too, unlike the provider: apache/airflow#53926).",
)
OS_END_OF_LOG_MARK = _airflow(
    OS,
    "end_of_log_mark",
    "end_of_log",
    "string",
    "OpenSearch: not written (Airflow 3 knows when a try has ended), as for Elasticsearch; a stored mark "
    "line from an older writer is shown as a line.",
)
OS_WRITE_STDOUT = _airflow(
    OS,
    "write_stdout",
    "False",
    "boolean",
    "OpenSearch: write each line of a try, as it is logged, to the worker's stdout as a JSON document for "
    "Fluent Bit's ``opensearch`` output or Fluentd's ``fluent-plugin-opensearch``.",
)
OS_WRITE_TO_OS = _airflow(
    OS,
    "write_to_os",
    "False",
    "boolean",
    "OpenSearch: index the lines into ``target_index`` directly while the try runs; retried, never "
    "duplicated.",
)
OS_TARGET_INDEX = _airflow(
    OS,
    "target_index",
    "airflow-logs",
    "string",
    "OpenSearch: index (or alias, or data stream) that ``write_to_os`` writes to.",
)
OS_JSON_FORMAT = _airflow(
    OS,
    "json_format",
    "False",
    "boolean",
    "OpenSearch: also write the ``json_fields`` into each document (as ``[elasticsearch] json_format``).",
)
OS_JSON_FIELDS = _airflow(
    OS,
    "json_fields",
    "asctime, filename, lineno, levelname, message",
    "string",
    "OpenSearch: with ``json_format``, the fields each document also gets (as ``[elasticsearch] "
    "json_fields``).",
)
OS_HOST_FIELD = _airflow(
    OS, "host_field", "host", "string", "OpenSearch: field holding the writer's host name."
)
OS_OFFSET_FIELD = _airflow(
    OS, "offset_field", "offset", "string", "OpenSearch: field holding a line's position in its log."
)
OS_INDEX_PATTERNS = _airflow(
    OS,
    "index_patterns",
    "_all",
    "string",
    "OpenSearch: comma-separated index patterns searched when reading.",
)
OS_INDEX_PATTERNS_CALLABLE = _airflow(
    OS,
    "index_patterns_callable",
    "",
    "string",
    "OpenSearch: dotted path of a callable taking the task instance and returning index patterns; wins "
    "over ``index_patterns``.",
)
OS_FRONTEND = _airflow(
    OS,
    "frontend",
    "",
    "string",
    "OpenSearch: URL template of an OpenSearch Dashboards view with ``{log_id}``; the UI links each try's "
    "log there. Not a provider option (it has no link); named as ``[elasticsearch] frontend``.",
)
# This package's own OpenSearch options: signing for Amazon OpenSearch Service.
OS_AWS_SIGV4 = Option(
    SECTION,
    "opensearch_aws_sigv4",
    "False",
    "boolean",
    "OpenSearch: sign every request with AWS SigV4 (Amazon OpenSearch Service), with the credentials of "
    "boto3's default chain (IRSA, instance profile, environment), as opensearch-py's ``AWSV4SignerAuth``. "
    "Replaces ``username``/``password``.",
)
OS_AWS_REGION = Option(
    SECTION,
    "opensearch_aws_region",
    "",
    "string",
    "OpenSearch SigV4: the domain's AWS region; empty: boto3's (``AWS_REGION``, ``AWS_DEFAULT_REGION``, "
    "the profile).",
)
OS_AWS_SERVICE = Option(
    SECTION,
    "opensearch_aws_service",
    "es",
    "string",
    "OpenSearch SigV4: ``es`` for an OpenSearch Service domain, ``aoss`` for OpenSearch Serverless.",
)

LOGGING_OPTIONS: tuple[Option, ...] = (
    REMOTE_LOGGING,
    REMOTE_BASE_LOG_FOLDER,
    REMOTE_LOG_CONN_ID,
    BASE_LOG_FOLDER,
    DELETE_LOCAL_LOGS,
    ENCRYPT_S3_LOGS,
    DAG_PROCESSOR_LOG_DIRECTORY,
    GOOGLE_KEY_PATH,
    WASB_CONTAINER,
    S3_ACL_POLICY,
    FLUSH_INTERVAL,
    FLUSH_BYTES,
    CHUNK_MAX_BYTES,
    UPLOAD_CONCURRENCY,
    UPLOAD_TIMEOUT,
    RETRY_MAX_DELAY,
    READ_PREFETCH_BYTES,
    S3_SSE,
    S3_SSE_KMS_KEY_ID,
    AZURE_ACCOUNT_URL,
)

ELASTICSEARCH_OPTIONS: tuple[Option, ...] = (
    ES_HOST,
    ES_LOG_ID_TEMPLATE,
    ES_WRITE_STDOUT,
    ES_WRITE_TO_ES,
    ES_TARGET_INDEX,
    ES_JSON_FORMAT,
    ES_JSON_FIELDS,
    ES_HOST_FIELD,
    ES_OFFSET_FIELD,
    ES_INDEX_PATTERNS,
    ES_INDEX_PATTERNS_CALLABLE,
    ES_FRONTEND,
    ES_COMPAT_WITH,
    ES_READ_PAGE_SIZE,
    ES_BULK_MAX_BYTES,
    ES_INSTALL_TEMPLATE,
)

OPENSEARCH_OPTIONS: tuple[Option, ...] = (
    OS_HOST,
    OS_PORT,
    OS_USERNAME,
    OS_PASSWORD,
    OS_LOG_ID_TEMPLATE,
    OS_END_OF_LOG_MARK,
    OS_WRITE_STDOUT,
    OS_WRITE_TO_OS,
    OS_TARGET_INDEX,
    OS_JSON_FORMAT,
    OS_JSON_FIELDS,
    OS_HOST_FIELD,
    OS_OFFSET_FIELD,
    OS_INDEX_PATTERNS,
    OS_INDEX_PATTERNS_CALLABLE,
    OS_FRONTEND,
    OS_AWS_SIGV4,
    OS_AWS_REGION,
    OS_AWS_SERVICE,
)


def reference_markdown() -> str:
    """The task-log part of the configuration reference (``docs/configuration.md``)."""
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m airflow_platform_plugins.reference`; do not edit by hand. -->",
        "",
        "Set options in `airflow.cfg` or with their environment variables, on every Airflow component "
        "(workers and triggerers ship logs, the api-server reads them).",
        "",
        "## Task logs: Airflow options this package honours",
        "",
    ]
    out += _table(o for o in LOGGING_OPTIONS if not o.ours)
    out += ["", f"## Task logs: this package's options (`[{SECTION}]`)", ""]
    out += _table(o for o in LOGGING_OPTIONS if o.ours)
    out += ["", "## Elasticsearch: the elasticsearch provider's options this package honours", ""]
    out += _table(o for o in ELASTICSEARCH_OPTIONS if not o.ours)
    out += [
        "",
        "Entries of `[elasticsearch_configs]` that name an `elasticsearch.Elasticsearch` argument are passed "
        "to the client, as by the provider (`True`/`False` and numbers are converted). The Airflow "
        "chart's names are honoured too: `timeout` is `request_timeout` and `retry_timeout` is "
        "`retry_on_timeout`. `max_retries` (the chart sets 3; this package's default is 0) makes the "
        "client retry a failed request itself, before the shipper's own backoff; retried writes add no "
        "duplicate (each document has a stable `_id`), but one end-of-try upload may then wait up to "
        "`max_retries + 1` request timeouts.",
        "",
        f"## Elasticsearch: this package's options (`[{SECTION}]`)",
        "",
        "`flush_interval`, `flush_bytes`, `upload_timeout` and `retry_max_delay` above apply to "
        "`write_to_es` too.",
        "",
    ]
    out += _table(o for o in ELASTICSEARCH_OPTIONS if o.ours)
    out += ["", "## OpenSearch: the opensearch provider's options this package honours", ""]
    out += _table(o for o in OPENSEARCH_OPTIONS if not o.ours)
    out += [
        "",
        "Entries of `[opensearch_configs]` that name an `opensearchpy.OpenSearch` argument (`use_ssl`, "
        "`verify_certs`, `ca_certs`, `http_compress`, `ssl_assert_hostname`, `ssl_show_warn`, `timeout` ...) "
        "are passed to the client, as by the provider (`True`/`False` and numbers are converted). "
        "`es_read_page_size`, `es_bulk_max_bytes` and `es_install_template` above apply to OpenSearch too.",
        "",
        f"## OpenSearch: this package's options (`[{SECTION}]`)",
        "",
    ]
    out += _table(o for o in OPENSEARCH_OPTIONS if o.ours)
    return "\n".join(out) + "\n"


def _table(options: Any) -> list[str]:
    rows = ["| option | environment variable | default | description |", "|---|---|---|---|"]
    for o in options:
        default = f"`{o.default}`" if o.default else "(empty)"
        rows.append(f"| `{o.name}` | `{o.env_var}` | {default} | {o.description} |")
    return rows
