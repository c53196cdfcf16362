"""A bounded load generator for the sign-on scenario, and what it counts (scenario 6).

Threads on 127.0.0.1 send requests with the JWT header, each one of a known kind: a valid token of one
of the identities (it must be admitted as exactly that identity) or a bad token (forged with a key
the IdP never published, expired, for another audience, or ``alg: none``: it must be refused). Every
answer is recorded with the phase it started in, so the scenario can count wrong admissions, server
errors, and latency per phase. The load stops when asked, or at its request or time bound.
"""

from __future__ import annotations

import base64
import json
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import httpx

from tests.harness.idp import IdentityProvider, SigningKey, new_key
from tests.harness.tasklog import wait_for

BAD_KINDS = ("forged", "expired", "other audience", "alg none")
ME = "/ui/auth/me"


@dataclass
class Answer:
    phase: str
    kind: str
    """``valid`` or one of :data:`BAD_KINDS`."""
    identity: str
    status: int
    username: str | None
    started: float
    seconds: float
    reason: str = ""
    """The start of a refusal's body (why)."""


@dataclass
class Load:
    """Requests from ``threads`` threads until :meth:`stop`, ``max_requests`` or ``max_seconds``."""

    url: str
    header: str
    idp: IdentityProvider
    identities: list[str]
    threads: int
    bad_share: float = 0.1
    max_requests: int = 200_000
    max_seconds: float = 900.0
    paths: tuple[str, ...] = (ME, "/api/v2/dags")
    """``/ui/auth/me`` names the user it admitted; the others are Airflow's API as clients use it."""
    phase: str = "before"
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tokens: dict[tuple[str, str, int], str] = field(default_factory=dict)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        self._began = time.monotonic()
        self._forger = new_key("RS256")
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, args=(n,), name=f"load-{n}", daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=120)

    def count(self) -> int:
        with self._lock:
            return len(self.answers)

    def wait_answers(self, more: int, timeout: float = 300) -> None:
        """Return once ``more`` answers have come back after this call."""
        target = self.count() + more
        wait_for(
            lambda: self.count() >= target or not any(w.is_alive() for w in self._workers),
            timeout=timeout,
            what=f"{more} more answers from the load",
        )
        if self.count() < target:
            raise AssertionError(f"the load stopped after {self.count()} of {target} answers")

    def valid_token(self, identity: str) -> str:
        """The IdP's current token for ``identity`` (a new one when its key or the user changes)."""
        profile = self.idp.users[identity]
        key = (identity, self.idp.active.kid, profile.version)
        with self._lock:
            token = self._tokens.get(key)
        if token is None:
            token = self.idp.token_for(identity)
            with self._lock:
                self._tokens[key] = token
        return token

    def bad_token(self, kind: str, identity: str) -> str:
        if kind == "forged":  # the active key's kid, signed with a key the IdP never published
            return self.idp.token_for(identity, key=_with_kid(self._forger, self.idp.active.kid))
        if kind == "expired":
            return self.idp.token_for(identity, exp=int(time.time()) - 600, iat=int(time.time()) - 1200)
        if kind == "other audience":
            return self.idp.token_for(identity, aud="another-app")
        header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
        body = base64.urlsafe_b64encode(json.dumps(self.idp.claims_for(identity)).encode()).rstrip(b"=")
        return f"{header.decode()}.{body.decode()}."

    def _run(self, n: int) -> None:
        rng = random.Random(n)
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self._stop.is_set():
                if self.count() >= self.max_requests or time.monotonic() - self._began > self.max_seconds:
                    return
                identity = rng.choice(self.identities)
                kind = rng.choice(BAD_KINDS) if rng.random() < self.bad_share else "valid"
                token = self.valid_token(identity) if kind == "valid" else self.bad_token(kind, identity)
                path = rng.choice(self.paths)
                phase, began = self.phase, time.time()
                try:
                    response = client.get(path, headers={self.header: token})
                    status = response.status_code
                    username = _username(response) if status == 200 and path == ME else identity
                    reason = "" if status == 200 else response.text[:200]
                except httpx.HTTPError as exc:
                    status, username, reason = 0, None, repr(exc)[:200]  # no answer at all
                with self._lock:
                    self.answers.append(
                        Answer(phase, kind, identity, status, username, began, time.time() - began, reason)
                    )


def _with_kid(key: SigningKey, kid: str) -> SigningKey:
    return replace(key, kid=kid)


def _username(response: httpx.Response) -> str | None:
    try:
        return str(response.json().get("username"))
    except ValueError:
        return None


def wrong_admissions(answers: list[Answer]) -> list[Answer]:
    """Bad tokens admitted, and valid ones admitted as somebody else."""
    return [a for a in answers if a.status == 200 and (a.kind != "valid" or a.username != a.identity)]


def server_errors(answers: list[Answer], allowed_503: Callable[[Answer], bool]) -> list[Answer]:
    """Answers of 500 or more (or none at all), except a 503 that ``allowed_503`` accepts."""
    return [
        a for a in answers if (a.status >= 500 or a.status == 0) and not (a.status == 503 and allowed_503(a))
    ]


def latency(answers: list[Answer], phase: str) -> str:
    """``p50 / p99`` in milliseconds of the valid requests started in ``phase``."""
    seconds = sorted(a.seconds for a in answers if a.phase == phase and a.kind == "valid")
    if not seconds:
        return "-"
    p99 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))]
    return f"{statistics.median(seconds) * 1000:.0f} / {p99 * 1000:.0f} ms"
