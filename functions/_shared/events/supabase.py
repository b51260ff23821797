"""Supabase Realtime delivery: sequenced outbox rows → Realtime's REST broadcast endpoint.

A round claims the oldest unpublished events in ``seq`` order, sends them as one request and
marks them published, all in one transaction. Order is global and strict: a batch is sent
only after every earlier one was accepted, and a failed batch holds back everything after it
until its backoff has passed (later events are never sent ahead of it). Two locks make that
hold across instances: a transaction-scoped advisory lock lets one publisher work at a time,
and ``FOR UPDATE SKIP LOCKED`` keeps claimed rows out of any other reader's hands.

Delivery is at least once: if Realtime accepts a batch and the commit that marks it is lost,
the batch is sent again. Subscribers de-duplicate by envelope ``id``.
"""

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import structlog

from functions._shared.db.pool import DbConnection, DbPool, transaction
from functions._shared.delivery_loop import DeliveryLoop
from functions._shared.events.outbox import envelope_from_row
from functions._shared.settings import Settings

logger = structlog.get_logger(__name__)

_PUBLISHER_LOCK_KEY = 7_206_915_313  # fixed: every instance agrees on it
_MAX_ERROR_CHARS = 200
_NO_LIMIT = 2**63 - 1

Sleep = Callable[[float], Awaitable[None]]

# A deferred row (a failed batch waiting out its backoff) blocks every later row, so that
# the next round cannot send later events ahead of it.
_CLAIM_BATCH = """
select seq, type, topic, occurred_at, data, publish_attempts
from event_outbox
where seq is not null
  and published_at is null
  and (next_publish_at is null or next_publish_at <= now())
  and seq < coalesce(
      (select min(seq) from event_outbox
       where seq is not null and published_at is null and next_publish_at > now()),
      $2)
order by seq
limit $1
for update skip locked
"""

# clock_timestamp(), not now(): a round may spend many seconds retrying inside its
# transaction, and a backoff counted from the transaction's start could already be over.
_MARK_PUBLISHED = """
update event_outbox
set published_at = clock_timestamp(), next_publish_at = null, last_publish_error = null
where seq = any($1::bigint[])
"""

_MARK_FAILED = """
update event_outbox
set publish_attempts = publish_attempts + 1,
    last_publish_error = $2,
    next_publish_at = clock_timestamp() + make_interval(secs => $3)
where seq = any($1::bigint[])
"""


@dataclass(frozen=True)
class PublishReport:
    published: int = 0
    failed_batches: int = 0


@dataclass(frozen=True)
class _Round:
    published: int = 0
    failed: bool = False
    more: bool = False


@dataclass(frozen=True)
class _SendFailure:
    error: str
    retry_after: float | None


def _backoff(settings: Settings, exponent: int) -> float:
    # Counted in publish intervals, so one setting scales every wait; capped so that a long
    # outage is retried at least every max_backoff seconds.
    delay = settings.realtime_publish_interval_seconds * 2 ** max(exponent, 0)
    return float(min(settings.realtime_publish_max_backoff_seconds, delay))


def _retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _describe(response: httpx.Response, secret: str) -> str:
    reason = response.reason_phrase
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("error") or body.get("message")
        if isinstance(detail, str) and detail:
            reason = f"{reason}: {detail}"
    # Stored in the outbox and logged: never let the key through, even if a proxy echoes it.
    return f"HTTP {response.status_code} {reason}".replace(secret, "***")[:_MAX_ERROR_CHARS]


def _is_retryable(status_code: int) -> bool:
    return status_code == 429 or status_code >= 500


async def _send(
    client: httpx.AsyncClient,
    *,
    settings: Settings,
    url: str,
    secret: str,
    body: dict[str, Any],
    sleep: Sleep,
) -> _SendFailure | None:
    """POST one batch, retrying 429, 5xx and transport errors; None when it was accepted."""
    headers = {
        "apikey": secret,
        "Authorization": f"Bearer {secret}",
        "Content-Type": "application/json",
    }
    failure = _SendFailure(error="not sent", retry_after=None)
    for attempt in range(1, settings.realtime_publish_max_attempts + 1):
        try:
            response = await client.post(
                url, json=body, headers=headers, timeout=settings.realtime_publish_timeout_seconds
            )
        except httpx.TransportError as error:
            # The class name only: some transport errors quote the request they failed on.
            failure = _SendFailure(error=f"transport {type(error).__name__}", retry_after=None)
        else:
            if response.is_success:
                return None
            failure = _SendFailure(
                error=_describe(response, secret), retry_after=_retry_after_seconds(response)
            )
            if not _is_retryable(response.status_code):
                return failure  # 4xx: resending the same request cannot help
        if attempt < settings.realtime_publish_max_attempts:
            delay = _backoff(settings, attempt - 1)
            if failure.retry_after is not None:
                delay = min(failure.retry_after, settings.realtime_publish_max_backoff_seconds)
            await sleep(delay)
    return failure


async def _publish_one_batch(
    connection: DbConnection,
    *,
    settings: Settings,
    client: httpx.AsyncClient,
    url: str,
    secret: str,
    sleep: Sleep,
) -> _Round:
    """One round in the caller's transaction; a failure is recorded, to be committed."""
    if not await connection.fetchval("select pg_try_advisory_xact_lock($1)", _PUBLISHER_LOCK_KEY):
        return _Round()  # another instance is publishing; it will drain what is ready
    rows: list[asyncpg.Record] = await connection.fetch(
        _CLAIM_BATCH, settings.realtime_publish_batch_size, _NO_LIMIT
    )
    if not rows:
        return _Round()
    seqs = [row["seq"] for row in rows]
    body = {
        "messages": [
            {
                "topic": envelope.topic,
                "event": envelope.type.value,
                "payload": envelope.model_dump(mode="json"),
                "private": settings.realtime_private_channels,
            }
            for envelope in map(envelope_from_row, rows)
        ]
    }
    started = time.monotonic()
    failure = await _send(client, settings=settings, url=url, secret=secret, body=body, sleep=sleep)
    if failure is None:
        await connection.execute(_MARK_PUBLISHED, seqs)
        return _Round(published=len(rows), more=len(rows) == settings.realtime_publish_batch_size)
    attempts = max(row["publish_attempts"] for row in rows) + 1
    retry_in = _backoff(settings, attempts)
    if failure.retry_after is not None:
        retry_in = max(
            retry_in, min(failure.retry_after, settings.realtime_publish_max_backoff_seconds)
        )
    await connection.execute(_MARK_FAILED, seqs, failure.error, retry_in)
    logger.warning(
        "realtime_publish_failed",
        error=failure.error,
        first_seq=seqs[0],
        last_seq=seqs[-1],
        events=len(seqs),
        publish_attempts=attempts,
        retry_in_seconds=retry_in,
        round_seconds=round(time.monotonic() - started, 3),
    )
    return _Round(failed=True)


async def publish_pending(
    pool: DbPool,
    *,
    settings: Settings,
    client: httpx.AsyncClient,
    sleep: Sleep = asyncio.sleep,
) -> PublishReport:
    """Send every ready, sequenced event to Supabase Realtime, batch by batch, in seq order.

    Stops at the first batch that cannot be delivered (its rows stay unpublished, with the
    error and a backoff recorded) and when another instance holds the publisher lock.
    ``sleep`` is the wait between in-call retries (a seam for tests).
    """
    url = settings.realtime_broadcast_url
    if url is None or settings.supabase_service_role_key is None:
        return PublishReport()
    secret = settings.supabase_service_role_key.get_secret_value()
    published = 0
    while True:
        async with transaction(pool) as connection:
            batch = await _publish_one_batch(
                connection, settings=settings, client=client, url=url, secret=secret, sleep=sleep
            )
        published += batch.published
        if batch.failed:
            return PublishReport(published=published, failed_batches=1)
        if not batch.more:
            return PublishReport(published=published)


class RealtimePublisher(DeliveryLoop):
    """Publishes every REALTIME_PUBLISH_INTERVAL_SECONDS, or at once when woken (after events
    are sequenced); never inside the request that emitted them."""

    task_name = "realtime-publisher"
    failure_event = "realtime_publisher_round_failed"

    def interval_seconds(self) -> float:
        return self._settings.realtime_publish_interval_seconds

    async def deliver_once(self, client: httpx.AsyncClient) -> bool:
        await publish_pending(self._pool, settings=self._settings, client=client)
        return False
