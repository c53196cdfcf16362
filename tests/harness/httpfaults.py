"""An HTTP/1.1 proxy on 127.0.0.1 that injects faults request by request, from a seeded random source.

Where :class:`~tests.harness.faultproxy.FaultProxy` cuts whole connections, this proxy reads each
request, decides its fate with ``random.Random(seed)`` and then, as :class:`Faults` says:

- answers it itself with the store's throttling response (S3 ``503 SlowDown``, GCS ``429``, Azure
  ``503 ServerBusy``, Elasticsearch and OpenSearch ``429``);
- for Elasticsearch ``_bulk``, forwards only part of the documents and reports the others as
  rejected with ``429`` (a partial bulk failure, as a busy node answers);
- adds latency and jitter, cuts the connection in the middle of the request body, drip-feeds the
  response in small pieces, or truncates it;
- holds every connection without an answer while a *blackhole* window is open (bounded), then cuts it.

Each request goes to the server on a fresh connection with ``Connection: close``. The client's
connection is closed after each answer, and the answer says ``Connection: close``: a client that
reused the connection would meet a reset that no real server causes. So no response framing has to
be parsed but the head of each answer and the answers being rewritten. Counters say how many
requests arrived and what was done to them; ``in_flight`` says how many are being answered right
now, by method (tests kill a writer in the middle of an upload with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from tests.harness.processes import free_port

BLACKHOLE_MAX = 120.0
"""Longest a held connection waits (every fault is bounded)."""


def response(
    status: int, reason: str, body: bytes, content_type: str = "application/json", extra: str = ""
) -> bytes:
    """A complete HTTP/1.1 response with ``Content-Length`` (``extra``: more header lines)."""
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{extra}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


S3_SLOW_DOWN = response(
    503,
    "Slow Down",
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>injected</RequestId></Error>",
    "application/xml",
)
GCS_TOO_MANY = response(
    429,
    "Too Many Requests",
    json.dumps(
        {"error": {"code": 429, "message": "rate limit", "errors": [{"reason": "rateLimitExceeded"}]}}
    ).encode(),
)
AZURE_SERVER_BUSY = response(
    503,
    "The server is busy.",
    b'<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>'
    b"<Message>The server is busy.\nRequestId:injected</Message></Error>",
    "application/xml",
    extra="x-ms-error-code: ServerBusy\r\n",
)
ES_TOO_MANY = response(
    429,
    "Too Many Requests",
    json.dumps(
        {"error": {"type": "es_rejected_execution_exception", "reason": "injected"}, "status": 429}
    ).encode(),
)
_REJECTED_ITEM = {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "injected"}}


@dataclass
class Faults:
    """What to do to requests; each rate is the chance per request (all zero: a plain proxy)."""

    throttle: float = 0.0
    throttle_response: bytes = S3_SLOW_DOWN
    partial_bulk: float = 0.0
    """Elasticsearch ``_bulk``: the chance that each document of a request is rejected with 429."""
    reset_mid_body: float = 0.0
    reset_first: int = 0
    """Also reset the first this many requests that carry a body (so a short run sees one)."""
    truncate: float = 0.0
    drip: float = 0.0
    latency: tuple[float, float] = (0.0, 0.0)
    """Added before forwarding: uniform between the two, in seconds."""
    applies: Callable[[str, str], bool] = field(default=lambda method, path: True)
    """Which requests (method, path) the faults apply to; others are forwarded untouched."""


class HttpFaultProxy:
    """Forward ``127.0.0.1:port`` to ``127.0.0.1:target_port`` with :class:`Faults`."""

    def __init__(self, target_port: int, *, seed: int = 0, faults: Faults | None = None) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.faults = faults or Faults()
        self.counts: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        """Requests being answered right now, by method."""
        self.requests: list[tuple[float, str, str, str]] = []
        """(time, method, path, outcome) of every request."""
        self._unanswered: dict[int, tuple[float, str]] = {}
        self._random = random.Random(seed)
        self._blackhole_until = 0.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="http-faults", daemon=True)
        self._thread.start()
        self._server: asyncio.base_events.Server | None = None
        self._call(self._start())

    def _call(self, coro: object) -> None:
        future: Future[None] = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        future.result(timeout=10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    def oldest_unanswered(self, methods: tuple[str, ...]) -> float | None:
        """Wall-clock arrival of the oldest request (of ``methods``) not answered yet, if any."""
        times = [at for at, method in list(self._unanswered.values()) if method in methods]
        return min(times) if times else None

    def blackhole(self, seconds: float) -> None:
        """From now on for ``seconds``, hold every request unanswered (then cut it)."""
        self._blackhole_until = time.monotonic() + min(seconds, BLACKHOLE_MAX)

    def _chance(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate

    def _record(self, method: str, path: str, outcome: str) -> None:
        self.counts[outcome] += 1
        self.requests.append((time.monotonic(), method, path, outcome))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = False
        try:
            answered = await self._serve_one(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            if answered:  # a whole answer: close as a server does, after the client has it all
                with contextlib.suppress(Exception):
                    writer.close()
                    await asyncio.wait_for(writer.wait_closed(), timeout=5)
            writer.transport.abort()  # a fault (or a client gone): cut the connection

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; whether a whole answer was sent (else the connection is cut)."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path = [*lines[0].split(" "), "", ""][:2]
        headers = [line.split(":", 1) for line in lines[1:] if ":" in line]
        names = {name.strip().lower(): value.strip() for name, value in headers}
        if names.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await _read_body(reader, names)
        faults = self.faults
        self.in_flight[method] += 1
        self._unanswered[id(writer)] = (time.time(), method)
        try:
            if time.monotonic() < self._blackhole_until:
                self._record(method, path, "blackholed")
                while time.monotonic() < self._blackhole_until:
                    await asyncio.sleep(0.05)
                return False
            if not faults.applies(method, path):
                self._record(method, path, "forwarded")
                writer.write(await self._forward(method, path, headers, body))
                await writer.drain()
                return True
            lo, hi = faults.latency
            if hi > 0:
                await asyncio.sleep(self._random.uniform(lo, hi))
            if self._chance(faults.throttle):
                self._record(method, path, "throttled")
                writer.write(faults.throttle_response)
                await writer.drain()
                return True
            forced = body and self.counts["reset"] < faults.reset_first
            if body and (forced or self._chance(faults.reset_mid_body)):
                self._record(method, path, "reset")
                await self._send_half(method, path, headers, body)
                return False
            if faults.partial_bulk > 0 and path.split("?")[0].endswith("/_bulk"):
                answer, rejected = await self._partial_bulk(method, path, headers, body)
                self._record(method, path, f"bulk {rejected} rejected" if rejected else "forwarded")
            else:
                answer = await self._forward(method, path, headers, body)
                self._record(method, path, "forwarded")
            if self._chance(faults.truncate):
                self.counts["truncated"] += 1
                writer.write(answer[: max(1, len(answer) // 2)])
                await writer.drain()
                return False
            if self._chance(faults.drip):
                self.counts["dripped"] += 1
                for start in range(0, len(answer), 97):
                    writer.write(answer[start : start + 97])
                    await writer.drain()
                    await asyncio.sleep(0.002)
                return True
            writer.write(answer)
            await writer.drain()
            return True
        finally:
            self.in_flight[method] -= 1
            self._unanswered.pop(id(writer), None)

    def _request_bytes(self, method: str, path: str, headers: list[list[str]], body: bytes) -> bytes:
        kept = [
            f"{name}:{value}"
            for name, value in headers
            if name.strip().lower() not in ("connection", "expect", "content-length", "transfer-encoding")
        ]
        head = [f"{method} {path} HTTP/1.1", *kept, f"Content-Length: {len(body)}", "Connection: close"]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body

    async def _forward(self, method: str, path: str, headers: list[list[str]], body: bytes) -> bytes:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        try:
            upstream_writer.write(self._request_bytes(method, path, headers, body))
            await upstream_writer.drain()
            return closing(await upstream_reader.read(-1))
        finally:
            upstream_writer.transport.abort()

    async def _send_half(self, method: str, path: str, headers: list[list[str]], body: bytes) -> None:
        data = self._request_bytes(method, path, headers, body)
        _, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        upstream_writer.write(data[: len(data) - len(body) // 2 - 1])
        await upstream_writer.drain()
        upstream_writer.transport.abort()

    async def _partial_bulk(
        self, method: str, path: str, headers: list[list[str]], body: bytes
    ) -> tuple[bytes, int]:
        """Forward some documents of a ``_bulk``; answer 429 for the others, in their positions."""
        lines = body.split(b"\n")
        pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2) if lines[i]]
        keep = [not self._chance(self.faults.partial_bulk) for _ in pairs]
        rejected = keep.count(False)
        kept_body = b"".join(a + b"\n" + s + b"\n" for (a, s), k in zip(pairs, keep, strict=True) if k)
        items: list[dict[str, object]] = []
        if kept_body:
            answer = await self._forward(method, path, headers, kept_body)
            head, _, payload = answer.partition(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                return answer, 0
            if b"chunked" in head.lower():
                payload = _dechunk(payload)
            forwarded = iter(json.loads(payload).get("items", []))
        else:
            forwarded = iter([])
        errors = rejected > 0
        for (action, _), k in zip(pairs, keep, strict=True):
            kind = next(iter(json.loads(action)), "create")
            if k:
                item = next(forwarded)
                errors = errors or int(next(iter(item.values())).get("status", 200)) >= 300
                items.append(item)
            else:
                items.append({kind: dict(_REJECTED_ITEM)})
        payload = json.dumps({"errors": errors, "items": items}).encode()
        # The Elasticsearch client refuses a 2xx answer without the product header.
        return response(200, "OK", payload, extra="X-Elastic-Product: Elasticsearch\r\n"), rejected

    def close(self) -> None:
        self._blackhole_until = 0.0
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


def closing(answer: bytes) -> bytes:
    """``answer`` with ``Connection: close`` in its head (this proxy closes every connection)."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return answer
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + sep + body


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
            chunk = await reader.readexactly(size + 2)
            body += chunk[:size]
            if size == 0:
                await _skip_trailers(reader, chunk)
                return bytes(body)
    length = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


async def _skip_trailers(reader: asyncio.StreamReader, last: bytes) -> None:
    if last.endswith(b"\r\n"):
        return
    await reader.readuntil(b"\r\n\r\n")


def _dechunk(payload: bytes) -> bytes:
    out = bytearray()
    while payload:
        size_line, _, rest = payload.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        payload = rest[size + 2 :]
    return bytes(out)
