"""A SigV4-checking HTTP proxy on 127.0.0.1: what Amazon OpenSearch Service does in front of a node.

Each request's ``Authorization`` header is checked with botocore's own signer and the credentials the
proxy was given (the signed headers, the body's SHA-256, the date and the credential scope); a request
whose signature does not match is refused with 403 and Amazon's message, any other is forwarded to the
node and its answer passed back. Threads, bounded by the test's requests; :meth:`close` stops it.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


def _parse_authorization(value: str) -> dict[str, str]:
    """``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`` as a dict."""
    algorithm, _, rest = value.partition(" ")
    fields = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
    return {"algorithm": algorithm, **fields}


def expected_signature(
    *,
    method: str,
    host: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    signed: list[str],
    access_key: str,
    secret_key: str,
    region: str,
    service: str,
) -> str:
    """The signature botocore computes for this request with these credentials."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    lowered = {k.lower(): v for k, v in headers.items()}
    request = AWSRequest(
        method=method,
        url=f"http://{host}{path}",
        data=body or None,
        headers={name: lowered.get(name, "") for name in signed},
    )
    request.context["timestamp"] = lowered.get("x-amz-date", "")
    auth = SigV4Auth(Credentials(access_key, secret_key), service, region)
    canonical = auth.canonical_request(request)
    return str(auth.signature(auth.string_to_sign(request, canonical), request))


class SigV4Proxy:
    """Checks SigV4 signatures for ``access_key``/``secret_key`` and forwards to ``127.0.0.1:upstream``."""

    def __init__(
        self, upstream: int, *, access_key: str, secret_key: str, region: str, service: str = "es"
    ) -> None:
        self.upstream = upstream
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.service = service
        self.accepted = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="sigv4-proxy", daemon=True)
        self._thread.start()

    def check(self, method: str, path: str, headers: dict[str, str], body: bytes) -> str | None:
        """Why the request is refused, or ``None`` when its signature is right."""
        lowered = {k.lower(): v for k, v in headers.items()}
        auth = _parse_authorization(lowered.get("authorization", ""))
        if auth.get("algorithm") != "AWS4-HMAC-SHA256" or "Signature" not in auth:
            return "Missing Authentication Token"
        key, date, region, service, _ = (auth.get("Credential", "") + "/////").split("/", 4)
        if key != self.access_key:
            return "The security token included in the request is invalid."
        if (region, service) != (self.region, self.service) or date != lowered.get("x-amz-date", "")[:8]:
            return "Credential should be scoped to a valid region and service."
        claimed = lowered.get("x-amz-content-sha256")
        if claimed is not None and claimed != hashlib.sha256(body).hexdigest():
            return "The provided 'x-amz-content-sha256' header does not match what was computed."
        signed = auth.get("SignedHeaders", "").split(";")
        if "host" not in signed or "x-amz-date" not in signed:
            return "Host and X-Amz-Date must be signed."
        expected = expected_signature(
            method=method,
            host=lowered.get("host", ""),
            path=path,
            headers=headers,
            body=body,
            signed=signed,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
            service=self.service,
        )
        if not hmac.compare_digest(expected, auth["Signature"]):
            return _MISMATCH
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                reason = proxy.check(self.command, self.path, headers, body)
                with proxy._lock:
                    if reason is None:
                        proxy.accepted += 1
                    else:
                        proxy.refused += 1
                if reason is not None:
                    self._answer(
                        403, {"content-type": "application/json"}, json.dumps({"message": reason}).encode()
                    )
                    return
                forwarded = {
                    k: v
                    for k, v in headers.items()
                    if k.lower() not in ("host", "authorization", "connection")
                }
                connection = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=300)
                try:
                    connection.request(self.command, self.path, body=body or None, headers=forwarded)
                    response = connection.getresponse()
                    data = response.read()
                    kept = {
                        k: v
                        for k, v in response.getheaders()
                        if k.lower() not in ("content-length", "transfer-encoding", "connection")
                    }
                    self._answer(response.status, kept, data)
                finally:
                    connection.close()

            def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        return Handler

    def close(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
