"""The outbox and its sequencer on the real database: ids are gap-free and never reorder."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from pydantic import SecretStr

from functions._shared.db.pool import DbPool, create_pool, init_connection, transaction
from functions._shared.events import EventType, conversation_topic, emit
from functions._shared.events.outbox import sequence_ready_events
from functions._shared.events.retention import prune_outbox
from functions._shared.events.schemas import ConversationUpdated
from functions._shared.settings import Settings


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[DbPool]:
    database_pool = await create_pool(
        settings.model_copy(update={"database_pool_max_size": 6}),
        settings.database_url.get_secret_value(),  # type: ignore[union-attr]
    )
    yield database_pool
    await database_pool.close()


async def emit_status(connection: asyncpg.Connection, conversation_id: uuid.UUID) -> int:
    """Emit on a connection outside transaction() (written at once); the new row's id."""
    await emit(
        connection,
        topic=conversation_topic(conversation_id),
        type=EventType.CONVERSATION_UPDATED,
        data=ConversationUpdated(conversation_id=conversation_id, status="ai"),
    )
    row_id: int = await connection.fetchval(
        "select max(id) from event_outbox where topic = $1", conversation_topic(conversation_id)
    )
    return row_id


async def seq_of(pool: DbPool, row_id: int) -> int | None:
    value: int | None = await pool.fetchval("select seq from event_outbox where id = $1", row_id)
    return value


async def test_event_waits_for_an_older_transaction_still_open(pool: DbPool) -> None:
    conversation_id = uuid.uuid4()
    async with pool.acquire() as older, pool.acquire() as newer:
        older_transaction = older.transaction()
        await older_transaction.start()
        older_row = await emit_status(older, conversation_id)
        async with newer.transaction():
            newer_row = await emit_status(newer, conversation_id)

        await sequence_ready_events(newer)
        held_back = await seq_of(pool, newer_row)
        await older_transaction.commit()
        await sequence_ready_events(newer)

    assert held_back is None
    older_seq, newer_seq = await seq_of(pool, older_row), await seq_of(pool, newer_row)
    assert older_seq is not None
    assert newer_seq is not None
    assert older_seq < newer_seq


async def test_concurrent_writers_get_gap_free_ids_in_their_own_order(pool: DbPool) -> None:
    writers, per_writer = 4, 40
    rows: dict[int, list[int]] = {}
    start_seq = await pool.fetchval("select last_seq from event_sequencer")

    async def write(writer: int) -> None:
        conversation_id = uuid.uuid4()
        rows[writer] = []
        async with pool.acquire() as connection:
            for _ in range(per_writer):
                async with connection.transaction():
                    rows[writer].append(await emit_status(connection, conversation_id))

    async def sequence_until_done(done: asyncio.Event) -> None:
        async with pool.acquire() as connection:
            while not done.is_set():
                await sequence_ready_events(connection)
                await asyncio.sleep(0)
            await sequence_ready_events(connection)

    done = asyncio.Event()
    sequencers = [asyncio.create_task(sequence_until_done(done)) for _ in range(2)]
    await asyncio.gather(*(write(writer) for writer in range(writers)))
    done.set()
    await asyncio.gather(*sequencers)

    all_rows = [row for writer_rows in rows.values() for row in writer_rows]
    seqs = await pool.fetch(
        "select id, seq from event_outbox where id = any($1::bigint[])", all_rows
    )
    seq_by_row = {record["id"]: record["seq"] for record in seqs}
    assert None not in seq_by_row.values()
    assert len(set(seq_by_row.values())) == writers * per_writer
    for writer_rows in rows.values():
        writer_seqs = [seq_by_row[row] for row in writer_rows]
        assert writer_seqs == sorted(writer_seqs)
    sequenced_since = await pool.fetch(
        "select seq from event_outbox where seq > $1 order by seq", start_seq
    )
    numbers = [record["seq"] for record in sequenced_since]
    assert numbers == list(range(start_seq + 1, start_seq + 1 + len(numbers)))


async def test_only_one_sequencer_runs_at_a_time(pool: DbPool) -> None:
    async with pool.acquire() as holder, pool.acquire() as other, holder.transaction():
        await holder.execute("select pg_advisory_xact_lock(7206915312)")

        assert await sequence_ready_events(other) == 0


async def test_retention_removes_old_events_and_keeps_recent_ones(
    pool: DbPool, settings: Settings
) -> None:
    conversation_id = uuid.uuid4()
    async with pool.acquire() as connection:
        old_row = await emit_status(connection, conversation_id)
        recent_row = await emit_status(connection, conversation_id)
        await sequence_ready_events(connection)
        await connection.execute(
            "update event_outbox set occurred_at = now() - interval '100 hours' where id = $1",
            old_row,
        )

    deleted = await prune_outbox(
        pool, settings=settings.model_copy(update={"events_retention_hours": 72})
    )

    assert deleted >= 1
    remaining = await pool.fetch(
        "select id from event_outbox where id = any($1::bigint[])", [old_row, recent_row]
    )
    assert [record["id"] for record in remaining] == [recent_row]


async def test_retention_keeps_old_events_not_yet_published_to_supabase(
    pool: DbPool, settings: Settings
) -> None:
    conversation_id = uuid.uuid4()
    async with pool.acquire() as connection:
        unpublished = await emit_status(connection, conversation_id)
        await sequence_ready_events(connection)
        await connection.execute(
            "update event_outbox set occurred_at = now() - interval '100 hours' where id = $1",
            unpublished,
        )
    with_supabase = settings.model_copy(
        update={
            "supabase_url": "https://ref.supabase.co",
            "supabase_service_role_key": SecretStr("service-key"),
        }
    )

    await prune_outbox(pool, settings=with_supabase, now=datetime.now(UTC) + timedelta(hours=1))

    assert await seq_of(pool, unpublished) is not None


async def test_emit_is_invisible_until_commit_and_gone_after_rollback(
    database_url: str,
) -> None:
    connection = await asyncpg.connect(database_url)
    await init_connection(connection)
    try:
        transaction = connection.transaction()
        await transaction.start()
        row = await emit_status(connection, uuid.uuid4())
        await transaction.rollback()

        assert (
            await connection.fetchval("select count(*) from event_outbox where id = $1", row) == 0
        )
    finally:
        await connection.close()


async def test_events_in_a_transaction_are_written_together_at_commit_in_order(
    pool: DbPool,
) -> None:
    conversation_id = uuid.uuid4()
    topic = conversation_topic(conversation_id)
    statuses = ["ai", "pending_human", "human"]
    async with transaction(pool) as tx:
        for status in statuses:
            await emit(
                tx,
                topic=topic,
                type=EventType.CONVERSATION_UPDATED,
                data=ConversationUpdated(conversation_id=conversation_id, status=status),
            )
        waiting = await tx.fetchval("select count(*) from event_outbox where topic = $1", topic)
    rows = await pool.fetch(
        "select data->>'status' as status from event_outbox where topic = $1 order by id", topic
    )
    assert waiting == 0  # batched until the commit
    assert [row["status"] for row in rows] == statuses


async def test_events_of_a_rolled_back_transaction_are_never_written(pool: DbPool) -> None:
    conversation_id = uuid.uuid4()

    async def change_that_fails_after_its_event() -> None:
        async with transaction(pool) as tx:
            await emit(
                tx,
                topic=conversation_topic(conversation_id),
                type=EventType.CONVERSATION_UPDATED,
                data=ConversationUpdated(conversation_id=conversation_id, status="ai"),
            )
            raise RuntimeError("the change fails after its event was emitted")

    with pytest.raises(RuntimeError):
        await change_that_fails_after_its_event()
    count = await pool.fetchval(
        "select count(*) from event_outbox where topic = $1", conversation_topic(conversation_id)
    )
    assert count == 0
