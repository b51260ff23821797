"""Signed callbacks to external requesters, delivered from ``callback_deliveries``.

A decision enqueues its callback in its own transaction, so the callback exists exactly when
the decision does. A pass claims due rows (``FOR UPDATE SKIP LOCKED``) and leases them by
pushing ``next_attempt_at`` past the POST's deadline, so no other instance takes them while
the POSTs run outside any transaction; each attempt is then recorded. Delivery is at least
once: a receiver de-duplicates by ``X-CCOS-Delivery``.

Receivers check ``X-CCOS-Signature: t=<unix seconds>,v1=<hex>``, where the hex is
HMAC-SHA256(secret, ``"<t>."`` + raw body); ``verify_signature`` is the recipe to copy.
"""

import asyncio
import hashlib
import hmac
import json
import random
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import structlog

from functions._shared.auth.local_secret import load_or_create_secret
from functions._shared.db.pool import DbConnection, DbPool
from functions._shared.delivery_loop import DeliveryLoop
from functions._shared.errors import InvalidInput
from functions._shared.outbound_http import async_client
from functions._shared.settings import Settings

logger = structlog.get_logger(__name__)

MAX_CALLBACK_URL_LENGTH = 2048
SECRET_FILE_NAME = "callback-secret"  # noqa: S105 (a file name, not a secret)
SIGNATURE_HEADER = "X-CCOS-Signature"
DELIVERY_HEADER = "X-CCOS-Delivery"
USER_AGENT = "ccos-callbacks"
_JITTER = 0.2

_CLAIM_DUE = """
with due as (
    select id from callback_deliveries
    where status = 'pending' and next_attempt_at <= now()
    order by next_attempt_at
    limit $1
    for update skip locked
)
update callback_deliveries d
set next_attempt_at = clock_timestamp() + make_interval(secs => $2)
from due where d.id = due.id
returning d.id, d.approval_id, d.url, d.payload, d.attempts
"""

# One statement, so the attempt and the delivery's new state are committed together. The
# status guard keeps a late writer from reviving a delivery already settled elsewhere.
_RECORD_ATTEMPT = """
with attempt as (
    insert into callback_attempts (delivery_id, attempted_at, status_code, error, duration_ms)
    values ($1, $2, $3, $4, $5)
)
update callback_deliveries
set attempts = attempts + 1, status = $6,
    last_attempt_at = $2, last_status_code = $3, last_error = $4,
    delivered_at = case when $6 = 'delivered' then clock_timestamp() end,
    next_attempt_at = case when $6 = 'pending'
        then clock_timestamp() + make_interval(secs => $7) else next_attempt_at end
where id = $1 and status = 'pending'
"""


def _not_allowed(reason: str) -> InvalidInput:
    return InvalidInput(reason, code="callback_url_not_allowed")


def validate_callback_url(url: str, *, allowed_hosts: Sequence[str]) -> str:
    if len(url) > MAX_CALLBACK_URL_LENGTH:
        raise _not_allowed(f"The callback URL is longer than {MAX_CALLBACK_URL_LENGTH} characters.")
    if any(character <= " " or character == "\x7f" for character in url):
        raise _not_allowed("The callback URL contains whitespace or control characters.")
    try:
        # httpx's parser, not only urllib's: the host checked must be the host httpx connects to.
        parsed = httpx.URL(url)
        authority = urllib.parse.urlsplit(url).netloc
    except (httpx.InvalidURL, ValueError):
        raise _not_allowed("The callback URL cannot be parsed.") from None
    if parsed.scheme not in {"http", "https"}:
        raise _not_allowed("The callback URL must use http or https.")
    if parsed.userinfo or "@" in authority:
        raise _not_allowed("The callback URL must not contain credentials.")
    if not parsed.host:
        raise _not_allowed("The callback URL has no host.")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise _not_allowed("The callback URL's port is out of range.")
    allowed = {host.strip().strip("[]").lower() for host in allowed_hosts}
    if parsed.host.lower() not in allowed:
        raise _not_allowed("The callback URL's host is not in CALLBACK_ALLOWED_HOSTS.")
    return url


def callback_signing_secret(settings: Settings) -> str | None:
    """The configured secret; in embedded mode one generated once; None: do not send."""
    if settings.callback_signing_secret is not None:
        return settings.callback_signing_secret.get_secret_value()
    if settings.is_embedded:
        return load_or_create_secret(settings.data_dir / SECRET_FILE_NAME)
    return None


def _signature(body: bytes, *, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(body: bytes, *, secret: str, timestamp: int) -> str:
    return f"t={timestamp},v1={_signature(body, secret=secret, timestamp=timestamp)}"


def verify_signature(
    body: bytes, header: str, *, secret: str, tolerance_seconds: int, now: float | None = None
) -> bool:
    """True when one ``v1`` matches (several are sent while a secret is rotated) and ``t`` is
    within the tolerance, which bounds how long a captured request can be replayed."""
    timestamps: list[int] = []
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamps.append(int(value))
        elif key == "v1":
            candidates.append(value)
    if len(timestamps) != 1 or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamps[0]) > tolerance_seconds:
        return False
    expected = _signature(body, secret=secret, timestamp=timestamps[0]).encode()
    # Bytes: compare_digest refuses non-ASCII str, and a header is attacker-chosen text.
    return any(hmac.compare_digest(expected, candidate.encode()) for candidate in candidates)


async def enqueue_callback(
    tx: DbConnection, *, approval_id: UUID, url: str, payload: dict[str, Any]
) -> UUID:
    delivery_id: UUID = await tx.fetchval(
        "insert into callback_deliveries (approval_id, url, payload) values ($1, $2, $3) "
        "returning id",
        approval_id,
        url,
        payload,
    )
    return delivery_id


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None = None
    error: str | None = None  # None: delivered
    final: bool = False  # retrying cannot help


def _retry_delay(settings: Settings, attempts: int) -> float:
    exponent = min(attempts - 1, 62)  # past any cap already; keeps 2**n a finite float
    delay = min(
        settings.callback_max_backoff_seconds,
        settings.callback_backoff_base_seconds * 2.0**exponent,
    )
    # Jitter spreads the retries of callbacks that failed together (not a security use).
    return delay * random.uniform(1 - _JITTER, 1 + _JITTER)  # noqa: S311


async def _attempt(
    delivery: asyncpg.Record, *, client: httpx.AsyncClient, settings: Settings, secret: str | None
) -> _Outcome:
    try:
        # The allow-list of now, not of when the callback was requested: it may have shrunk.
        validate_callback_url(
            delivery["url"], allowed_hosts=settings.effective_callback_allowed_hosts
        )
    except InvalidInput as error:
        return _Outcome(error=error.detail, final=True)
    if secret is None:
        logger.error("callback_signing_secret_missing", approval_id=str(delivery["approval_id"]))
        return _Outcome(error="callback_signing_secret_missing", final=True)
    # Serialised once: the bytes signed are the bytes sent.
    body = json.dumps(delivery["payload"], ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: str(delivery["id"]),
        SIGNATURE_HEADER: signature_header(body, secret=secret, timestamp=int(time.time())),
    }
    timeout = settings.callback_timeout_seconds
    try:
        # One deadline for the whole exchange (httpx's is per read), so a receiver trickling
        # bytes cannot outlast the lease; the response body is never read, so never held.
        async with (
            asyncio.timeout(timeout),
            client.stream(
                "POST",
                delivery["url"],
                content=body,
                headers=headers,
                timeout=timeout,
                follow_redirects=False,
            ) as response,
        ):
            code = response.status_code
    except (TimeoutError, httpx.TimeoutException):
        return _Outcome(error=f"timeout after {timeout:g}s")
    except httpx.HTTPError as error:
        # The class name only: some transport errors quote the request they failed on.
        return _Outcome(error=f"transport {type(error).__name__}")
    return _Outcome(status_code=code, error=None if 200 <= code < 300 else f"HTTP {code}")


async def _deliver(
    pool: DbPool,
    delivery: asyncpg.Record,
    *,
    client: httpx.AsyncClient,
    settings: Settings,
    secret: str | None,
) -> None:
    attempted_at, started = datetime.now(UTC), time.monotonic()
    outcome = await _attempt(delivery, client=client, settings=settings, secret=secret)
    duration_ms = (time.monotonic() - started) * 1000
    attempts = delivery["attempts"] + 1
    status, retry_in = "pending", 0.0
    if outcome.error is None:
        status = "delivered"
    elif outcome.final or attempts >= settings.callback_max_attempts:
        status = "failed"
    else:
        retry_in = _retry_delay(settings, attempts)
    attempt = (delivery["id"], attempted_at, outcome.status_code, outcome.error, duration_ms)
    await pool.execute(_RECORD_ATTEMPT, *attempt, status, retry_in)
    if status == "failed":
        logger.warning(
            "callback_failed",
            approval_id=str(delivery["approval_id"]),
            delivery_id=str(delivery["id"]),
            url_host=_host_of(delivery["url"]),
            last_status_code=outcome.status_code,
            error=outcome.error,
            attempts=attempts,
        )


def _host_of(url: str) -> str | None:
    try:
        return urllib.parse.urlsplit(url).hostname
    except ValueError:  # a malformed stored URL must not hide the failure it caused
        return None


async def deliver_due_callbacks(
    pool: DbPool, *, client: httpx.AsyncClient, settings: Settings, limit: int = 20
) -> int:
    """One pass over up to ``limit`` due deliveries; returns how many it attempted.

    A receiver's failure (status, timeout, network) is recorded, never raised. A database
    failure is raised (while recording, in an ExceptionGroup); the deliveries it left
    unrecorded are retried once their lease has passed.
    """
    claimed = await pool.fetch(_CLAIM_DUE, limit, settings.callback_timeout_seconds * 2)
    if claimed:
        secret = callback_signing_secret(settings)
        # Side by side: one after another, the last of a batch could outlive its lease.
        async with asyncio.TaskGroup() as group:
            for delivery in claimed:
                group.create_task(
                    _deliver(pool, delivery, client=client, settings=settings, secret=secret)
                )
    return len(claimed)


class CallbackSender(DeliveryLoop):
    """Sends due callbacks every CALLBACK_POLL_SECONDS, or at once when woken (after a decision
    is committed); never inside the request that decided."""

    task_name = "callback-sender"
    failure_event = "callback_sender_pass_failed"
    _BATCH = 20

    def new_client(self) -> httpx.AsyncClient:
        return async_client(follow_redirects=False)

    def interval_seconds(self) -> float:
        return self._settings.callback_poll_seconds

    async def deliver_once(self, client: httpx.AsyncClient) -> bool:
        attempted = await deliver_due_callbacks(
            self._pool, client=client, settings=self._settings, limit=self._BATCH
        )
        return attempted == self._BATCH  # a full batch: more may be due already
