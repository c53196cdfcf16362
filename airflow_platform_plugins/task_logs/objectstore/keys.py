"""Object names for task logs in a bucket: the one place that maps a log to keys.

Layout under the configured prefix (``[logging] remote_base_log_folder``)::

    {prefix}/{relative_path}                                     whole object (the providers' layout)
    {prefix}/{relative_path}/{stream}/{start:016d}-{end:016d}    chunk: bytes [start, end) of one local file

``relative_path`` is the try's path under ``[logging] base_log_folder`` (what Airflow passes to
``upload``/``read``/``stream``). A *stream* is one local log file as one host wrote it; its chunks are
never rewritten, so appending never reads or re-uploads what is already stored.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_OFFSET_DIGITS = 16
_CHUNK_RE = re.compile(r"^(?P<sub>[^/]*)/(?P<stream>[A-Za-z0-9._-]+)/(?P<start>\d{16})-(?P<end>\d{16})$")
_UNSAFE_CHAR_RE = re.compile(r"[\x00-\x1f\x7f%]")
_HOST_UNSAFE_RE = re.compile(r"[^A-Za-z0-9.-]+")


def encode_relative_path(relative_path: str) -> str:
    """Return ``relative_path`` as a key suffix that every object store accepts unchanged.

    ``%`` and control characters are percent-encoded, and ``.``/``..`` segments become ``%2E``/``%2E%2E``
    so that no HTTP layer normalises them away. Everything else (``:``, ``+``, non-ASCII) is kept, so
    ordinary paths map to the same keys as the providers' handlers use.
    """
    if not relative_path or relative_path.startswith("/"):
        raise ValueError(
            f"task log path must be relative to [logging] base_log_folder, got {relative_path!r}"
        )
    segments = []
    for segment in relative_path.split("/"):
        segment = _UNSAFE_CHAR_RE.sub(lambda m: f"%{ord(m.group()):02X}", segment)
        if segment in (".", ".."):
            segment = segment.replace(".", "%2E")
        segments.append(segment)
    return "/".join(segments)


def log_key(prefix: str, relative_path: str) -> str:
    """Key of the log for ``relative_path`` under ``prefix`` (no leading or trailing slash needed)."""
    prefix = prefix.strip("/")
    suffix = encode_relative_path(relative_path)
    return f"{prefix}/{suffix}" if prefix else suffix


def legacy_log_key(prefix: str, relative_path: str) -> str:
    """Key the providers' handlers used: ``os.path.join(remote_base, relative_path)`` without encoding."""
    prefix = prefix.strip("/")
    return f"{prefix}/{relative_path}" if prefix else relative_path


def stream_id(host: str, first_line: bytes) -> str:
    """Name of one local log file: its host plus a hash of its first line.

    Each process that appends to the same local file (reschedule pokes, resumes after deferral, retried
    uploads) derives the same name, so it continues the same stream instead of starting a copy.
    """
    safe_host = _HOST_UNSAFE_RE.sub("-", host).strip("-.")[:48] or "host"
    digest = hashlib.sha256(first_line).hexdigest()[:16]
    return f"{safe_host}-{digest}"


def chunk_prefix(key: str, stream: str) -> str:
    """Prefix under which all chunks of ``stream`` of the log ``key`` live."""
    return f"{key}/{stream}/"


def chunk_key(key: str, stream: str, start: int, end: int) -> str:
    """Key of the chunk holding bytes ``[start, end)`` of ``stream``."""
    if not 0 <= start < end < 10**_OFFSET_DIGITS:
        raise ValueError(f"invalid chunk range [{start}, {end})")
    return f"{key}/{stream}/{start:0{_OFFSET_DIGITS}d}-{end:0{_OFFSET_DIGITS}d}"


@dataclass(frozen=True)
class ChunkName:
    """A parsed chunk key."""

    log: str
    """Key of the log it belongs to (``{key}`` or, for a triggerer log, ``{key}.trigger.N.log``)."""
    stream: str
    start: int
    end: int


@dataclass(frozen=True)
class WholeObjectName:
    """A parsed key of a whole-log object, as the providers' handlers write them."""

    log: str


def parse_key(key: str, listed: str) -> ChunkName | WholeObjectName | None:
    """Classify ``listed``, a key found by listing the prefix ``key``; ``None`` if it is neither kind."""
    if not listed.startswith(key):
        return None
    rest = listed[len(key) :]
    match = _CHUNK_RE.match(rest)
    if match:
        start, end = int(match["start"]), int(match["end"])
        if end <= start:
            return None
        return ChunkName(log=key + match["sub"], stream=match["stream"], start=start, end=end)
    if "/" not in rest:
        return WholeObjectName(log=listed)
    return None
