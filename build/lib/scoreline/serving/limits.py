"""API keys and per-key rate limits of the prediction service, as one ASGI middleware.

Keys come from ``Settings.api_keys`` (``KEY`` or ``KEY:LIMIT``, LIMIT in requests per minute).
A protected path (POST /results) answers 401 without a key and 403 with an unknown one, or when
no keys are configured at all; any path answers 403 to an unknown key. With a limit in force a
caller (its key, else its address) gets a GCRA budget of LIMIT requests per minute, bursts up
to LIMIT; past it the answer is 429 with ``Retry-After``. Every limited answer carries
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (seconds until the
whole budget is back). Budgets live in a small SQLite file so every worker process of the
service draws on the same one; probes and metrics scrapes are never limited.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

__all__ = ["AccessControl", "ApiKey", "Decision", "RateLimiter", "gcra", "parse_api_keys"]

#: the budget period: limits are requests per minute
PERIOD_S = 60.0
#: paths a load balancer or Prometheus polls: never limited
UNLIMITED_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


@dataclass(frozen=True)
class ApiKey:
    """One accepted key: its SHA-256 digest (the secret itself is not kept) and its limit."""

    digest: bytes
    #: requests per minute; 0 = unlimited
    limit_per_minute: int


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_api_keys(values: Iterable[SecretStr | str], default_limit: int) -> dict[bytes, ApiKey]:
    """``KEY`` / ``KEY:LIMIT`` entries as keys by digest; a bad entry is named by position (its
    text is a secret)."""
    keys: dict[bytes, ApiKey] = {}
    for position, value in enumerate(values, 1):
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        secret, sep, limit = text.strip().rpartition(":") if ":" in text else (text.strip(), "", "")
        if sep and not limit.strip().isdigit():
            raise ValueError(
                f"api_keys entry {position}: the limit after ':' must be a whole "
                "number of requests per minute"
            )
        if not secret:
            raise ValueError(f"api_keys entry {position} is empty")
        keys[_digest(secret)] = ApiKey(_digest(secret), int(limit) if sep else default_limit)
    return keys


@dataclass(frozen=True)
class Decision:
    """One request's fate under a rate limit."""

    allowed: bool
    limit: int
    remaining: int
    #: seconds until the whole budget is available again
    reset_s: float
    #: seconds to wait before a retry can succeed (0 when allowed)
    retry_after_s: float

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(math.ceil(self.reset_s)).encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(max(1, math.ceil(self.retry_after_s))).encode()))
        return headers


def gcra(tat: float, now: float, limit: int, period: float = PERIOD_S) -> tuple[Decision, float]:
    """The generic cell rate algorithm: ``limit`` requests per ``period``, bursts up to ``limit``.

    ``tat`` is the caller's theoretical arrival time (0 for a new caller); returns the decision
    and the ``tat`` to store. One number per caller, no request log, no window-edge bursts.
    """
    interval = period / limit
    tat = max(tat, now)
    new_tat = tat + interval
    if new_tat - period > now + 1e-9:
        return Decision(False, limit, 0, tat - now, new_tat - period - now), tat
    remaining = int((period - (new_tat - now)) / interval + 1e-9)
    return Decision(True, limit, remaining, new_tat - now, 0.0), new_tat


class RateLimiter:
    """GCRA budgets per caller in a SQLite file, shared by every process that opens it.

    The state is disposable (a lost update only forgives a request), so the file is written
    without fsync; each decision is one short ``BEGIN IMMEDIATE`` transaction.
    """

    #: every this many decisions, callers whose budget is whole again are forgotten
    PRUNE_EVERY = 5000

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._decisions = 0

    def _db(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("CREATE TABLE IF NOT EXISTS budget (caller TEXT PRIMARY KEY, tat REAL NOT NULL)")
            self._connection, self._pid = db, os.getpid()
        return self._connection

    def hit(self, caller: str, limit: int, now: float | None = None) -> Decision:
        """Count one request of ``caller`` against ``limit`` per minute."""
        now = time.time() if now is None else now
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT tat FROM budget WHERE caller = ?", (caller,)).fetchone()
            decision, tat = gcra(row[0] if row else 0.0, now, limit)
            if decision.allowed:
                db.execute(
                    "INSERT INTO budget (caller, tat) VALUES (?, ?) "
                    "ON CONFLICT (caller) DO UPDATE SET tat = excluded.tat",
                    (caller, tat),
                )
            self._decisions += 1
            if self._decisions % self.PRUNE_EVERY == 0:
                db.execute("DELETE FROM budget WHERE tat < ?", (now,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return decision


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def presented_key(scope: Scope) -> str | None:
    """The API key of a request: ``X-API-Key``, else an ``Authorization: Bearer`` token."""
    key = _header(scope, b"x-api-key")
    if key is None:
        auth = _header(scope, b"authorization")
        if auth and auth[:7].lower() == "bearer ":
            key = auth[7:]
    key = key.strip() if key else None
    return key or None


async def _answer(send: Send, status: int, message: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AccessControl:
    """ASGI middleware: API keys on ``protected`` paths, rate limits on every other path but
    :data:`UNLIMITED_PATHS`.

    ``keys`` maps key digests to :class:`ApiKey`; ``default_limit`` (requests per minute, 0 =
    none) applies to callers without a key; ``limiter_path`` is the shared budget file (needed
    when any limit is set).
    """

    def __init__(
        self,
        app,
        *,
        keys: dict[bytes, ApiKey],
        default_limit: int,
        limiter_path: Path | None,
        protected: Collection[str],
    ) -> None:
        self.app = app
        self.keys = keys
        self.default_limit = default_limit
        self.protected = frozenset(protected)
        limited = default_limit > 0 or any(k.limit_per_minute for k in keys.values())
        self.limiter = None
        if limited:
            if limiter_path is None:
                raise ValueError("a rate limit is set but no file to keep the budgets in")
            self.limiter = RateLimiter(limiter_path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        presented = presented_key(scope)
        key = self.keys.get(_digest(presented)) if presented is not None else None
        if presented is not None and key is None:
            await _answer(send, 403, "invalid API key")
            return
        if path in self.protected and key is None:
            if not self.keys:
                await _answer(
                    send, 403, f"{path} is disabled: the service has no API keys (set SCORELINE_API_KEYS)"
                )
            else:
                await _answer(
                    send,
                    401,
                    f"{path} needs an API key (header X-API-Key)",
                    [(b"www-authenticate", b'ApiKey header="X-API-Key"')],
                )
            return
        limit = key.limit_per_minute if key is not None else self.default_limit
        if self.limiter is None or limit <= 0 or path in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("unknown", 0)
        caller = f"key:{key.digest.hex()[:32]}" if key is not None else f"addr:{client[0]}"
        decision = self.limiter.hit(caller, limit)
        if not decision.allowed:
            await _answer(
                send,
                429,
                f"rate limit of {limit} requests per minute exceeded; "
                f"retry in {math.ceil(decision.retry_after_s)} s",
                decision.headers(),
            )
            return
        extra = decision.headers()

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
