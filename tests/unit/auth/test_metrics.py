"""Sign-on metrics: names, the fixed refusal reasons, and key fetch failures (the StatsD wire is tested
against a real listener in tests/e2e/auth/test_proxies.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from airflow_platform_plugins.auth import metrics
from airflow_platform_plugins.auth.errors import Forbidden, InvalidClaims, InvalidToken, Rejected, Unavailable
from tests.unit.auth.conftest import FakeClock, FakeJwksEndpoint, Key, jwks_verifier, sign


class Recorder:
    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.timers: list[tuple[str, timedelta]] = []

    def incr(self, name: str, count: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + count

    def timing(self, name: str, value: timedelta) -> None:
        self.timers.append((name, value))


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(metrics.METRICS, "backend", recorder)
    return recorder


@pytest.mark.parametrize(
    ("refusal", "name"),
    [
        (InvalidToken("token expired"), "expired"),
        (InvalidToken("wrong audience"), "audience"),
        (InvalidToken("wrong signer: not the configured load balancer"), "signer"),
        (InvalidToken("algorithm not allowed: HS256"), "algorithm"),
        (
            InvalidToken("unknown signing key id (too many new key ids at once; try again shortly)"),
            "unknown_key",
        ),
        (InvalidToken("unsigned token: the X header carries ..."), "unsigned"),
        (InvalidToken("malformed token: bad key id"), "malformed"),
        (InvalidToken("the X-Jwt-Assertion header was sent 2 times"), "invalid"),
        (InvalidClaims("invalid claim: email is not an email address"), "claims"),
        (Forbidden("no Airflow role is mapped to this identity"), "forbidden"),
        (Unavailable("the user database is busy"), "unavailable"),
    ],
)
def test_refusals_map_to_fixed_names(refusal: Rejected, name: str) -> None:
    assert metrics.refusal_reason(refusal) == name


def test_key_fetches_and_failures_are_counted(recorder: Recorder, rsa_key: Key) -> None:
    endpoint, clock = FakeJwksEndpoint([rsa_key.jwk()], down=True), FakeClock()
    verifier, _ = jwks_verifier(endpoint, clock)
    with pytest.raises(Unavailable):
        verifier.verify(sign(rsa_key))
    assert recorder.counters == {"platform_auth.key_fetches": 1, "platform_auth.key_fetch_failures": 1}
    endpoint.down = False
    clock.advance(31)
    verifier.verify(sign(rsa_key))
    assert recorder.counters["platform_auth.key_fetches"] == 2
    assert recorder.counters["platform_auth.key_fetch_failures"] == 1


def test_a_broken_metrics_backend_never_breaks_sign_on(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def incr(self, *args: Any) -> None:
            raise RuntimeError("statsd is down")

        def timing(self, *args: Any) -> None:
            raise RuntimeError("statsd is down")

    monkeypatch.setattr(metrics.METRICS, "backend", Broken())
    metrics.incr("admitted")
    metrics.timing("verify_duration", 0.001)
