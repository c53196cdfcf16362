"""Property-based fuzzing of the header value against the real api-server: 10,000+ cases, zero 5xx.

Sent straight to the api-server over one keep-alive connection (nginx would replace the header),
as raw bytes: anything an HTTP/1.1 client can put in a header line, JWT-shaped strings, mutations of
valid tokens, and tokens with fuzzed headers and claims that carry a valid signature, so the claim
and user code behind the signature check is fuzzed too.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.auth.conftest import HEADER, SignOn

pytestmark = pytest.mark.airflow

EXAMPLES = 10_000
PATHS = ("/api/v2/dags", "/ui/auth/me", "/", "/auth/login/", "/api/v2/monitor/health")


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class KeepAliveClient:
    """One HTTP/1.1 connection, reopened when the server closes it; header values are raw bytes."""

    def __init__(self, host: str, port: int, header: str = HEADER) -> None:
        self.host, self.port, self.header = host, port, header
        self.connection: http.client.HTTPConnection | None = None
        self.reconnects = 0

    def get(self, path: str, value: bytes, accept: bytes) -> int:
        for _ in range(3):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
                self.reconnects += 1
            try:
                self.connection.putrequest("GET", path, skip_accept_encoding=True)
                self.connection.putheader(self.header, value)
                self.connection.putheader("Accept", accept)
                self.connection.endheaders()
                response = self.connection.getresponse()
                response.read()
                if response.will_close:
                    self.close()
                return response.status
            except (ConnectionError, http.client.HTTPException):
                self.close()
        raise AssertionError("the api-server stopped answering")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
header_bytes = st.binary(max_size=400).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
jwt_shaped = st.tuples(st.binary(max_size=60), st.binary(max_size=200), st.binary(max_size=80)).map(
    lambda parts: b".".join(b64(p) for p in parts)
)


@st.composite
def mutated_valid_token(draw: st.DrawFn, tokens: list[bytes]) -> bytes:
    token = bytearray(draw(st.sampled_from(tokens)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=len(token)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        byte = draw(st.integers(min_value=0x20, max_value=0x7E))
        if action == "replace" and position < len(token):
            token[position] = byte
        elif action == "insert":
            token.insert(position, byte)
        elif action == "delete" and position < len(token):
            del token[position]
        elif action == "truncate":
            del token[position:]
    return bytes(token)


def mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` four times out of five, so that most tokens get past one check to the next."""
    return st.integers(min_value=0, max_value=4).flatmap(lambda n: valid if n else other)


@st.composite
def signed_fuzz(draw: st.DrawFn, sign_on: SignOn) -> bytes:
    """A correctly signed token whose header and claims are fuzzed around the valid ones."""
    idp = sign_on.idp
    now = int(time.time())
    odd_names = (
        st.sampled_from(["FUZZ-A", " fuzz", "fuzz\x00", "fuzz\u202e"]) | st.text(max_size=40) | json_values
    )
    claims: dict[str, Any] = {
        "iss": draw(mostly(st.just(idp.issuer), st.sampled_from([idp.issuer.rstrip("/"), ""]) | json_values)),
        "aud": draw(mostly(st.sampled_from(["airflow", ["x", "airflow"]]), json_values)),
        "exp": draw(mostly(st.just(now + 600), st.just(now - 600) | json_values)),
        "preferred_username": draw(mostly(st.from_regex(r"fuzz-[a-z]{1,3}", fullmatch=True), odd_names)),
        "groups": draw(
            mostly(
                st.sampled_from([["airflow-viewers"], "airflow-admins, airflow-users", ["Admin"], []]),
                json_values,
            )
        ),
    }
    for name in draw(st.lists(st.sampled_from(["email", "given_name", "family_name", "name", "nbf", "iat"]))):
        claims[name] = draw(json_values | st.just(now))
    header = {"alg": idp.active.alg, "kid": idp.active.kid, "typ": "JWT"}
    extra = st.dictionaries(st.sampled_from(["alg", "kid", "crit", "b64", "jku", "x5u", "typ"]), json_values)
    header.update(draw(mostly(st.just({}), extra)))
    head = b64(json.dumps(header, default=str).encode())
    body = b64(json.dumps(claims, default=str).encode())
    signing_input = head + b"." + body
    signature = _signature(idp, signing_input)
    return signing_input + b"." + b64(signature)


def _signature(idp: Any, signing_input: bytes) -> bytes:
    import jwt

    algorithm = jwt.algorithms.get_default_algorithms()[idp.active.alg]
    return bytes(algorithm.sign(signing_input, idp.active.private))


def test_no_header_value_causes_a_server_error(sign_on: SignOn) -> None:
    good = [
        sign_on.idp.token_for(sign_on.new_user("fuzz-base", ["airflow-viewers"])).encode(),
        sign_on.idp.token_for(
            sign_on.new_user("fuzz-base", ["airflow-admins"]), exp=int(time.time()) - 10
        ).encode(),
    ]
    client = KeepAliveClient("127.0.0.1", sign_on.airflow.api_port)
    statuses: dict[int, int] = {}
    failures: list[tuple[bytes, int]] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        value=st.one_of(
            header_bytes,
            st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300).map(
                str.encode
            ),
            jwt_shaped,
            mutated_valid_token(good),
            signed_fuzz(sign_on),
        ),
        path=st.sampled_from(PATHS),
        accept=st.sampled_from([b"application/json", b"text/html", b"*/*"]),
    )
    def one_request(value: bytes, path: str, accept: bytes) -> None:
        status = client.get(path, value, accept)
        statuses[status] = statuses.get(status, 0) + 1
        if status >= 500:
            failures.append((value, status))

    started = time.monotonic()
    try:
        one_request()
    finally:
        client.close()
    elapsed = time.monotonic() - started
    total = sum(statuses.values())
    print(f"\n{total} header values in {elapsed:.0f} s; statuses {sorted(statuses.items())}")
    assert total >= EXAMPLES
    assert failures == []
    assert set(statuses) <= {200, 302, 307, 400, 401, 403, 404}
    assert statuses.get(200, 0) > 100  # the fuzzing reached past the signature into claims and users
    assert statuses.get(403, 0) > 10
    assert "Unexpected error while checking" not in sign_on.airflow.processes["api-server"].log_text()
