"""Writing events into the outbox, sequencing them, and reading them back.

``emit`` runs inside the caller's transaction, so an event exists exactly when its change is
committed. ``sequence_ready_events`` gives committed events their public, gap-free ``seq``.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from functions._shared.db.pool import DbConnection, before_commit_batch
from functions._shared.events.schemas import (
    EVENT_PAYLOADS,
    EVENT_TOPIC_KINDS,
    EventEnvelope,
    EventType,
    _Payload,
    is_valid_topic,
    topic_kind,
)

NOTIFY_CHANNEL = "ccos_events"
SEQUENCED_PAYLOAD = "sequenced"  # sent by a sequencer; new events notify with ''
_SEQUENCER_LOCK_KEY = 7_206_915_312  # fixed: every process agrees on it
_STREAM_ONLY_TYPES = frozenset({EventType.STREAM_RESET, EventType.STREAM_OVERFLOW})


class InvalidEventError(ValueError):
    """An event whose topic or payload does not match the published contract."""


def check_topics(topics: list[str], type: EventType) -> None:
    """The topics ``type`` may be sent to, per the contract (a SQL statement builds the payload
    of some events: this much is checked for them too)."""
    for topic in topics:
        if not is_valid_topic(topic):
            raise InvalidEventError(f"Unknown topic {topic!r}")
        if topic_kind(topic) not in EVENT_TOPIC_KINDS[type]:
            raise InvalidEventError(f"{type} is not sent to {topic_kind(topic)} topics")


def event_rows(topics: list[str], type: EventType, data: _Payload) -> list[dict[str, Any]]:
    """The outbox rows (``{topic, type, data}``) of one event on ``topics``, checked against the
    contract; the payload as it is now, whatever happens to ``data`` later."""
    if type in _STREAM_ONLY_TYPES or not isinstance(data, EVENT_PAYLOADS[type]):
        raise InvalidEventError(f"{type} does not carry {data.__class__.__name__}")
    check_topics(topics, type)
    payload = data.model_dump(mode="json")
    return [{"topic": topic, "type": type.value, "data": payload} for topic in topics]


async def emit_to_topics(
    tx: DbConnection, *, topics: list[str], type: EventType, data: _Payload
) -> None:
    """The same event on several topics (a conversation's and the dashboard's), in the caller's
    transaction: written with the transaction's other events just before it commits (inside
    ``transaction()``), or at once."""
    rows = event_rows(topics, type, data)
    batch = before_commit_batch(tx, _insert_events)
    if batch is None:
        await _insert_events(tx, rows)
    else:
        batch.extend(rows)


async def emit(tx: DbConnection, *, topic: str, type: EventType, data: _Payload) -> None:
    """Record an event in the caller's transaction (see ``emit_to_topics``)."""
    await emit_to_topics(tx, topics=[topic], type=type, data=data)


def take_batched_events(tx: DbConnection) -> list[dict[str, Any]]:
    """The events batched so far in ``tx``'s transaction, which the caller's next statement
    writes (``insert_events_sql``) instead of the commit: one round trip fewer."""
    batch = before_commit_batch(tx, _insert_events)
    if not batch:
        return []
    taken = list(batch)
    batch.clear()
    return taken


async def flush_batched_events(tx: DbConnection) -> None:
    """Write the events batched so far now: before a statement that writes events of its own,
    so the outbox keeps the order they were emitted in."""
    taken = take_batched_events(tx)
    if taken:
        await _insert_events(tx, taken)


def insert_events_sql(rows_parameter: str) -> str:
    """A data-modifying query writing the ``{topic, type, data}`` objects of the JSON array
    parameter in order (outbox ids follow it, and so do their seqs); put it in a statement's
    WITH list, and ``NOTIFY_SQL`` in its FROM list."""
    return (
        "insert into event_outbox (topic, type, data)"
        " select e->>'topic', e->>'type', e->'data'"
        f" from jsonb_array_elements({rows_parameter}::jsonb) with ordinality as t(e, position)"
        " order by position returning id"
    )


# Wakes the relays; the notification is delivered at commit.
NOTIFY_SQL = f"pg_notify('{NOTIFY_CHANNEL}', '')"


async def _insert_events(tx: DbConnection, rows: list[dict[str, Any]]) -> None:
    """One round trip for all of them, sent as one JSON array."""
    await tx.execute(
        f"with inserted as ({insert_events_sql('$1')}) select count(*) from inserted, {NOTIFY_SQL}",
        rows,
    )


async def sequence_ready_events(connection: DbConnection) -> int:
    """Give ``seq`` to every committed, unsequenced event; returns how many.

    Only one sequencer runs at a time (others return 0 at once). The horizon is the oldest
    transaction still running: every event written by an older transaction is committed (or
    rolled back and invisible), so nothing can later appear before what is sequenced now.
    """
    async with connection.transaction():
        # One statement: its snapshot is taken before the lock is granted, so the horizon may
        # be older than it could be: later events merely wait for the next pass.
        # No bitmap scan for this transaction: the partial index of unsequenced events keeps an
        # entry for every event sequenced since the last vacuum, and only a plain index scan
        # marks those dead and skips them afterwards; a bitmap scan rechecked every one of them
        # on every pass (thousands of heap rows for the handful of new events under load).
        locked = await connection.fetchrow(
            "select pg_try_advisory_xact_lock($1) as locked,"
            " pg_snapshot_xmin(pg_current_snapshot()) as horizon,"
            " set_config('enable_bitmapscan', 'off', true)",
            _SEQUENCER_LOCK_KEY,
        )
        assert locked is not None
        if not locked["locked"]:
            return 0
        # The update runs on a snapshot taken after the lock: it sees every earlier sequencing.
        count: int = await connection.fetchval(
            """
            with ready as (
                select id, row_number() over (order by xid, id) as position
                from event_outbox
                where seq is null and xid < $1::xid8
            ), reserved as (
                update event_sequencer
                set last_seq = last_seq + (select count(*) from ready)
                returning last_seq - (select count(*) from ready) as base
            ), numbered as (
                update event_outbox o
                set seq = reserved.base + ready.position, sequenced_at = clock_timestamp()
                from ready, reserved
                where o.id = ready.id
                returning 1
            ), counted as (
                select count(*) as sequenced from numbered
            )
            -- Other processes' relays learn of the new seqs at commit.
            select sequenced, case when sequenced > 0 then pg_notify($2, $3) end
            from counted
            """,
            locked["horizon"],
            NOTIFY_CHANNEL,
            SEQUENCED_PAYLOAD,
        )
        return count


def envelope_from_row(row: asyncpg.Record) -> EventEnvelope:
    return EventEnvelope(
        id=row["seq"],
        type=EventType(row["type"]),
        topic=row["topic"],
        occurred_at=row["occurred_at"],
        data=row["data"],
    )


@dataclass(frozen=True, slots=True)
class EventFrame:
    """A sequenced event, rendered once as an SSE frame and shared by every stream."""

    seq: int
    topic: str
    sse: bytes


# Postgres renders the envelope, so the relay's process never parses and re-serialises payloads.
_FRAME_COLUMNS = (
    "seq, topic, type, jsonb_build_object('id', seq, 'type', type, 'topic', topic, "
    "'occurred_at', occurred_at, 'data', data)::text as envelope"
)


def frame_from_row(row: asyncpg.Record) -> EventFrame:
    # jsonb's text form never holds a raw newline, so the envelope is one valid data line.
    sse = f"id: {row['seq']}\nevent: {row['type']}\ndata: {row['envelope']}\n\n".encode()
    return EventFrame(seq=row["seq"], topic=row["topic"], sse=sse)


async def frames_after(connection: DbConnection, *, after_seq: int, limit: int) -> list[EventFrame]:
    rows = await connection.fetch(
        f"select {_FRAME_COLUMNS} from event_outbox where seq > $1 order by seq limit $2",
        after_seq,
        limit,
    )
    return [frame_from_row(row) for row in rows]


async def topic_frames_after(
    connection: DbConnection, *, topic: str, after_seq: int, until_seq: int, limit: int
) -> list[EventFrame]:
    rows = await connection.fetch(
        f"select {_FRAME_COLUMNS} from event_outbox "
        "where topic = $1 and seq > $2 and seq <= $3 order by seq limit $4",
        topic,
        after_seq,
        until_seq,
        limit,
    )
    return [frame_from_row(row) for row in rows]


async def last_sequenced(connection: DbConnection) -> int:
    value: int = await connection.fetchval("select last_seq from event_sequencer")
    return value


async def oldest_retained_seq(connection: DbConnection) -> int | None:
    value: int | None = await connection.fetchval(
        "select min(seq) from event_outbox where seq is not null"
    )
    return value


async def delete_events_before(
    connection: DbConnection, *, cutoff: datetime, require_published: bool
) -> int:
    """Outbox retention: drop sequenced events older than ``cutoff``.

    With Supabase delivery on, an event not yet published is kept whatever its age, so a long
    Realtime outage delays events but never loses them.
    """
    published_clause = "and published_at is not null" if require_published else ""
    result: str = await connection.execute(
        f"delete from event_outbox where occurred_at < $1 and seq is not null {published_clause}",
        cutoff,
    )
    return int(result.rsplit(maxsplit=1)[-1])
