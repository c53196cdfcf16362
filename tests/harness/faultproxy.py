"""A TCP proxy on 127.0.0.1 that a test can cut, to make a real server unreachable and back."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import Future

from tests.harness.processes import free_port


class UploadPayloadCounter:
    """Counts the object bytes of the upload requests that pass through, per object name.

    GCS multipart uploads carry a JSON metadata part (with the object's name) before the media part;
    only the media part is counted. Other upload requests (resumable pieces) are counted whole under
    ``RESUMABLE``, which is charged to every prefix (an overestimate, never an underestimate).
    Requests must use ``Content-Length``.
    """

    RESUMABLE = "<resumable>"

    def __init__(self, upload_path: bytes = b"/upload/", parent: UploadPayloadCounter | None = None) -> None:
        self.upload_path = upload_path
        self.by_name: dict[str, int] = parent.by_name if parent is not None else {}
        self.uploads: list[tuple[str, int]] = parent.uploads if parent is not None else []
        self.requests: list[bytes] = parent.requests if parent is not None else []
        """``METHOD path`` of every request that passed through."""
        self._buffer = b""
        self._head: bytes | None = None
        self._body = bytearray()
        self._remaining = 0

    def bytes_for(self, prefix: str) -> int:
        return sum(
            n for name, n in list(self.by_name.items()) if name.startswith(prefix) or name == self.RESUMABLE
        )

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if self._head is None:
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                self._head, self._buffer = self._buffer[:end], self._buffer[end + 4 :]
                self._remaining = int(self._header(b"content-length") or 0)
                self._body = bytearray()
            take = min(self._remaining, len(self._buffer))
            self._body += self._buffer[:take]
            self._buffer = self._buffer[take:]
            self._remaining -= take
            if self._remaining:
                return
            self._finish()

    def _header(self, name: bytes) -> bytes | None:
        assert self._head is not None
        for line in self._head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name:
                return value.strip()
        return None

    def _add(self, name: str, size: int) -> None:
        self.by_name[name] = self.by_name.get(name, 0) + size
        self.uploads.append((name, size))

    def _finish(self) -> None:
        assert self._head is not None
        method, path = ([*self._head.split(b"\r\n", 1)[0].split(b" "), b"", b""])[:2]
        self.requests.append(method + b" " + path)
        if method in (b"POST", b"PUT") and path.startswith(self.upload_path) and self._body:
            content_type = self._header(b"content-type") or b""
            if content_type.startswith(b"multipart/related") and b"boundary=" in content_type:
                boundary = content_type.split(b"boundary=", 1)[1].strip(b'"')
                parts = bytes(self._body).split(b"--" + boundary)
                metadata = json.loads(parts[1].split(b"\r\n\r\n", 1)[1])
                media = parts[2].split(b"\r\n\r\n", 1)[1]
                self._add(str(metadata.get("name", "")), max(0, len(media) - 2))
            else:
                self._add(self.RESUMABLE, len(self._body))
        self._head = None


class FaultProxy:
    """Forward ``127.0.0.1:port`` to ``target_port``; :meth:`down` refuses and drops connections."""

    def __init__(
        self, target_port: int, port: int | None = None, counter: UploadPayloadCounter | None = None
    ) -> None:
        self.target_port = target_port
        self.counter = counter
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.bytes_up = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        self.up()

    def _call(self, coro: object) -> None:
        future: Future[None] = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        future.result(timeout=10)

    def up(self) -> None:
        """Accept connections again."""
        self._call(self._start())

    def down(self) -> None:
        """Refuse new connections and cut the open ones (like a store that went away)."""
        self._call(self._stop())

    @property
    def is_up(self) -> bool:
        return self._server is not None

    async def _start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._handle, "127.0.0.1", self.port, reuse_address=True
            )

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, upstream_writer))

        counter = (
            type(self.counter)(self.counter.upload_path, self.counter) if self.counter is not None else None
        )

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: bool) -> None:
            try:
                while data := await reader.read(1 << 16):
                    if count:
                        self.bytes_up += len(data)
                        if counter is not None:
                            counter.feed(data)
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.transport.abort() if not self.is_up else writer.close()

        await asyncio.gather(
            pipe(client_reader, upstream_writer, True), pipe(upstream_reader, client_writer, False)
        )
        self._writers.difference_update((client_writer, upstream_writer))

    def close(self) -> None:
        self.down()
        self._call(self._cancel_handlers())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _cancel_handlers(self) -> None:
        handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
