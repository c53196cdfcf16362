"""Every setting this package reads: the single source of truth for code and documentation.

Settings live where Airflow users expect them: Airflow's own options keep their names (``[logging]
remote_base_log_folder``, ``[logging] encrypt_s3_logs`` ...), and this package's own options are in the
``[platform_logging]`` section (environment: ``AIRFLOW__PLATFORM_LOGGING__<KEY>``).
``docs/configuration.md`` is generated from this module (``python -m airflow_platform_plugins.options``).
"""

from __future__ import annotations

import sys
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
        parser = _PARSERS[self.kind]
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
    "Parallel uploads when a backlog is split into several objects (GCS: at most 4, because its "
    "client holds each upload's body in memory).",
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
    "Reading: bytes fetched ahead in parallel (ranged reads of up to 8 MiB); bounds the reader's memory.",
    minimum=0,
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

LOGGING_OPTIONS: tuple[Option, ...] = (
    REMOTE_LOGGING,
    REMOTE_BASE_LOG_FOLDER,
    REMOTE_LOG_CONN_ID,
    BASE_LOG_FOLDER,
    DELETE_LOCAL_LOGS,
    ENCRYPT_S3_LOGS,
    DAG_PROCESSOR_LOG_DIRECTORY,
    GOOGLE_KEY_PATH,
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
)


def reference_markdown() -> str:
    """The configuration reference page (``docs/configuration.md``)."""
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m airflow_platform_plugins.options`; do not edit by hand. -->",
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
    out.append("")
    return "\n".join(out)


def _table(options: Any) -> list[str]:
    rows = ["| option | environment variable | default | description |", "|---|---|---|---|"]
    for o in options:
        default = f"`{o.default}`" if o.default else "(empty)"
        rows.append(f"| `{o.name}` | `{o.env_var}` | {default} | {o.description} |")
    return rows


if __name__ == "__main__":
    sys.stdout.write(reference_markdown())
