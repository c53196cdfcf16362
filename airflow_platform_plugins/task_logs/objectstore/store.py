"""What the shipping core needs from an object store.

Backends (S3, GCS) implement :class:`ObjectStore` in a thin adapter; everything else is shared.

Merging chunks into covering objects (:mod:`.merger`) needs ``delete``. A store that can build an
object from others on the server also has the optional ``compose`` (see :class:`ComposingStore`);
without it, covering objects are uploaded from the local file.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ObjectInfo:
    """A listed object."""

    key: str
    size: int


class FileRange:
    """Bytes ``[start, start + length)`` of a local file, readable as a seekable binary stream."""

    def __init__(self, path: str, start: int, length: int) -> None:
        self.path = path
        self.start = start
        self.length = length

    def open(self) -> _RangeReader:
        """Open the range; the caller closes it."""
        return _RangeReader(open(self.path, "rb"), self.start, self.length)

    def read_all(self) -> bytes:
        """Read the whole range into memory (for small ranges)."""
        with self.open() as reader:
            return reader.read()


class _RangeReader(io.RawIOBase):
    """A seekable window over an open file; clients can stream and rewind it for retries."""

    def __init__(self, raw: io.BufferedReader, start: int, length: int) -> None:
        self._raw = raw
        self._start = start
        self._length = length
        self._pos = 0
        raw.seek(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._length}[whence]
        self._pos = min(max(base + offset, 0), self._length)
        self._raw.seek(self._start + self._pos)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._length - self._pos)
        if want <= 0:
            return 0
        got = self._raw.readinto(memoryview(buffer)[:want])
        self._pos += got
        return got

    def read(self, size: int = -1) -> bytes:
        remaining = self._length - self._pos
        if size is None or size < 0 or size > remaining:
            size = remaining
        data = self._raw.read(size)
        self._pos += len(data)
        return data

    def __len__(self) -> int:
        return self._length

    def close(self) -> None:
        self._raw.close()
        super().close()


class ObjectStore(Protocol):
    """The few calls the shipping core makes. Implementations raise :class:`RemoteLogError` only."""

    prefix: str
    """Key prefix for task logs inside the bucket (may be empty)."""

    upload_slots: int
    """Most ``put_new`` calls worth running at once (bounds the client's buffers)."""

    read_buffer: int
    """Bytes the client holds whole for one ranged read (0 if it streams); counted in the read-ahead."""

    def url(self, key: str) -> str:
        """A human-readable address of ``key`` (``s3://bucket/key``)."""
        ...

    def put_new(self, key: str, body: FileRange) -> None:
        """Create ``key`` with ``body``; an existing ``key`` already holds the same bytes and is kept."""
        ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Yield the objects whose key starts with ``prefix``, in key order."""
        ...

    def get(self, key: str, start: int, length: int) -> bytes:
        """Return ``length`` bytes of ``key`` from byte ``start``."""
        ...

    def iter_bytes(self, key: str, start: int, length: int) -> Iterator[bytes]:
        """Stream ``length`` bytes of ``key`` from byte ``start``, in blocks of at most 1 MiB."""
        ...

    def delete(self, key: str) -> None:
        """Delete ``key``; a key that does not exist is not an error."""
        ...


class ComposingStore(ObjectStore, Protocol):
    """A store that concatenates objects on the server (optional capability, found by ``getattr``)."""

    def compose(self, key: str, sources: Sequence[str]) -> None:
        """Create ``key`` as the concatenation of ``sources``.

        At most 32 sources and 1,024 uploaded parts in all; an existing ``key`` already holds the
        same bytes and is kept.
        """
        ...
