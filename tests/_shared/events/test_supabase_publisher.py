"""Supabase delivery: the outbox publisher against a respx-mocked Realtime REST endpoint, and the
migration that prepares a Supabase database (publication, private-channel policies).

Each test gets a database of its own, migrated from scratch: the publisher sends every
unpublished event it finds, so events left by other tests would change what it sends.
"""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import respx
from pydantic import SecretStr

from functions._shared.db.migrations import apply_migrations, discover_migrations
from functions._shared.db.pool import DbPool, create_pool, transaction
from functions._shared.events import (
    APPROVALS_TOPIC,
    DASHBOARD_TOPIC,
    EventType,
    conversation_topic,
    emit,
)
from functions._shared.events.outbox import sequence_ready_events
from functions._shared.events.schemas import (
    ApprovalChange,
    ConversationUpdated,
    DocumentUpdated,
    EventEnvelope,
)
from functions._shared.events.supabase import PublishReport, RealtimePublisher, publish_pending
from functions._shared.settings import Settings
from tests.conftest import MIGRATIONS_DIR

SUPABASE_URL = "https://ref.supabase.co"
BROADCAST_URL = f"{SUPABASE_URL}/realtime/v1/api/broadcast"
SERVICE_KEY = "service-key"


@pytest.fixture
def supabase_settings(settings: Settings) -> Settings:
    # model_copy does not validate: the key must already be a SecretStr.
    return settings.model_copy(
        update={
            "supabase_url": SUPABASE_URL,
            "supabase_service_role_key": SecretStr(SERVICE_KEY),
            "realtime_publish_max_attempts": 3,
        }
    )


async def _migrate(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await apply_migrations(connection, discover_migrations(MIGRATIONS_DIR))
    finally:
        await connection.close()


@pytest.fixture
async def pool(fresh_database: str, supabase_settings: Settings) -> AsyncIterator[DbPool]:
    await _migrate(fresh_database)
    database_pool = await create_pool(supabase_settings, fresh_database)
    yield database_pool
    await database_pool.close()


@pytest.fixture
def realtime() -> Iterator[respx.Route]:
    with respx.mock(assert_all_called=False) as router:
        yield router.post(BROADCAST_URL)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http_client:
        yield http_client


class RecordedSleeps(list[float]):
    """Stands in for asyncio.sleep between in-call retries: records the wait, returns at once."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def emit_documents(pool: DbPool, count: int) -> None:
    async with transaction(pool) as tx:
        for number in range(count):
            await emit(
                tx,
                topic=DASHBOARD_TOPIC,
                type=EventType.DOCUMENT_UPDATED,
                data=DocumentUpdated(
                    document_id=uuid.uuid4(),
                    title=f"환불 규정 {number}",
                    status="ready",
                    chunk_count=number,
                    version=1,
                ),
            )
    await sequence(pool)


async def sequence(pool: DbPool) -> None:
    # The horizon is server-wide: a transaction open in another database on the same embedded
    # server (another test session) can hold our events back for a moment.
    async with asyncio.timeout(10), pool.acquire() as connection:
        while await connection.fetchval("select count(*) from event_outbox where seq is null"):
            await sequence_ready_events(connection)
            await asyncio.sleep(0.01)


def sent_ids(route: respx.Route) -> list[int]:
    return [
        message["payload"]["id"]
        for call in route.calls
        for message in json.loads(call.request.content)["messages"]
    ]


async def outbox_rows(pool: DbPool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "select seq, published_at, publish_attempts, last_publish_error, "
        "next_publish_at > now() as deferred from event_outbox order by seq"
    )


async def test_batch_is_one_rest_broadcast_with_service_key_and_envelopes_in_seq_order(
    pool: DbPool,
    realtime: respx.Route,
    client: httpx.AsyncClient,
    supabase_settings: Settings,
) -> None:
    conversation_id = uuid.uuid4()
    approval = ApprovalChange(
        approval_id=uuid.uuid4(),
        kind="reply",
        status="pending",
        escalation_level=0,
        deadline_at=None,
        conversation_id=conversation_id,
    )
    async with transaction(pool) as tx:
        await emit(
            tx,
            topic=conversation_topic(conversation_id),
            type=EventType.CONVERSATION_UPDATED,
            data=ConversationUpdated(
                conversation_id=conversation_id, status="pending_human", previous_status="ai"
            ),
        )
        await emit(tx, topic=APPROVALS_TOPIC, type=EventType.APPROVAL_CREATED, data=approval)
        await emit(tx, topic=DASHBOARD_TOPIC, type=EventType.APPROVAL_CREATED, data=approval)
    await sequence(pool)
    realtime.respond(202)

    report = await publish_pending(pool, settings=supabase_settings, client=client)

    envelopes = [
        EventEnvelope.model_validate(dict(row))
        for row in await pool.fetch(
            "select seq as id, type, topic, occurred_at, data from event_outbox order by seq"
        )
    ]
    assert report == PublishReport(published=3, failed_batches=0)
    assert realtime.call_count == 1
    request = realtime.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == BROADCAST_URL
    assert request.headers["apikey"] == SERVICE_KEY
    assert request.headers["authorization"] == f"Bearer {SERVICE_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "messages": [
            {
                "topic": envelope.topic,
                "event": envelope.type.value,
                "payload": envelope.model_dump(mode="json"),
                "private": True,
            }
            for envelope in envelopes
        ]
    }
    assert [envelope.id for envelope in envelopes] == [1, 2, 3]
    assert [envelope.topic for envelope in envelopes] == [
        conversation_topic(conversation_id),
        APPROVALS_TOPIC,
        DASHBOARD_TOPIC,
    ]


async def test_public_channels_setting_sends_messages_as_not_private(
    pool: DbPool,
    realtime: respx.Route,
    client: httpx.AsyncClient,
    supabase_settings: Settings,
) -> None:
    await emit_documents(pool, 2)
    realtime.respond(202)
    public_settings = supabase_settings.model_copy(update={"realtime_private_channels": False})

    await publish_pending(pool, settings=public_settings, client=client)

    messages = json.loads(realtime.calls.last.request.content)["messages"]
    assert [message["private"] for message in messages] == [False, False]


async def test_published_events_are_marked_and_never_sent_again(
    pool: DbPool,
    realtime: respx.Route,
    client: httpx.AsyncClient,
    supabase_settings: Settings,
) -> None:
    await emit_documents(pool, 3)
    realtime.respond(202)

    first = await publish_pending(pool, settings=supabase_settings, client=client)
    second = await publish_pending(pool, settings=supabase_settings, client=client)

    assert first.published == 3
    assert second == PublishReport()
    assert realtime.call_count == 1
    assert all(row["published_at"] is not None for row in await outbox_rows(pool))


async def test_events_beyond_the_batch_size_go_out_in_consecutive_batches(
    pool: DbPool,
    realtime: respx.Route,
    client: httpx.AsyncClient,
    supabase_settings: Settings,
) -> None:
    await emit_documents(pool, 250)
    realtime.respond(202)
    batch_settings = supabase_settings.model_copy(update={"realtime_publish_batch_size": 100})

    report = await publish_pending(pool, settings=batch_settings, client=client)

    batch_sizes = [len(json.loads(call.request.content)["messages"]) for call in realtime.calls]
    assert report == PublishReport(published=250)
    assert batch_sizes == [100, 100, 50]
    assert sent_ids(realtime) == list(range(1, 251))


async def test_rate_limited_batch_is_retried_after_retry_after_and_published_once(
    pool: DbPool,
    realtime: respx.Route,
    client: httpx.AsyncClient,
    supabase_settings: Settings,
) -> None:
    await emit_documents(pool, 3)
    realtime.side_effect = [
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(202),
    ]
    sleeps = RecordedSleeps()

    report = await publish_pending(pool, settings=supabase_settings, client=client, sleep=sleeps)

    assert report == PublishReport(published=3)
    assert sleeps == [0.0]
    assert sent_ids(realtime) == [1, 2, 3, 1, 2, 3]  # the same batch, twice: refused, accepted
    rows = await outbox_rows(pool)
    assert all(row["published_at"] is not None for row in rows)
    assert all(row["publish_attempts"] == 0 for row in rows)
    assert await publish_pending(pool, settings=supabase_settings, client=client) == PublishReport()
    assert realtime.call_count == 2


async def test_retry_after_longer_than_the_backoff_cap_is_capped(
    pool: DbPool,
    realtime: respx.Route,
    client: httpx.AsyncClient,
    supabase_settings: Settings,
) -> None:
    await emit_documents(pool, 1)
    realtime.side_effect = [
        httpx.Response(429, headers={"Retry-After": "3600"}),
        httpx.Response(202),
    ]
    sleeps = RecordedSleeps()
    capped_settings = supabase_settings.model_copy(
        update={"realtime_publish_max_backoff_seconds": 7.0}
    )

    await publish_pending(pool, settings=capped_settings, client=client, sleep=sleeps)

    assert sleeps == [7.0]


async def test_transport_error_is_retried_within_the_round(
    pool: DbPool,
    realtime: respx.Route,
    client: httpx.AsyncClient,
    supabase_settings: Settings,
) -> None:
    await emit_documents(pool, 2)
    realtime.side_effect = [httpx.ConnectError("connection refused"), httpx.Response(202)]

    report = await publish_pending(
        pool, settings=supabase_settings, client=client, sleep=RecordedSleeps()
    )

    assert report == PublishReport(published=2)
    assert realtime.call_count == 2


async def test_server_error_storm_leaves_events_unpublished_with_error_and_backoff(
    pool: DbPool,
    realtime: respx.Route,
    client: httpx.AsyncClient,
    supabase_settings: Settings,
) -> None:
    await emit_documents(pool, 3)
    realtime.respond(500, json={"message": "Internal Server Error"})
    sleeps = RecordedSleeps()

    report = await publish_pending(pool, settings=supabase_settings, client=client, sleep=sleeps)

    assert report == PublishReport(published=0, failed_batches=1)
    assert realtime.call_count == supabase_settings.realtime_publish_max_attempts == 3
    assert sleeps == [1.0, 2.0]  # exponential, in publish intervals
    for row in await outbox_rows(pool):
        assert row["published_at"] is None
        assert row["publish_attempts"] == 1
        assert row["last_publish_error"].startswith("HTTP 500")
        assert SERVICE_KEY not in row["last_publish_error"]
        assert row["deferred"] is True


async def test_events_held_back_by_a_storm_are_published_in_order_once_it_passes(
    pool: DbPool,
    realtime: respx.Route,
    client: httpx.AsyncClient,
    supabase_settings: Settings,
) -> None:
    small_batches = supabase_settings.model_copy(update={"realtime_publish_batch_size": 2})
    await emit_documents(pool, 5)
    realtime.respond(503)
    await publish_pending(pool, settings=small_batches, client=client, sleep=RecordedSleeps())
    realtime.reset()
    realtime.side_effect = None
    realtime.respond(202)
    await pool.execute("update event_outbox set next_publish_at = now()")

    report = await publish_pending(pool, settings=small_batches, client=client)

    assert report == PublishReport(published=5)
    assert sent_ids(realtime) == [1, 2, 3, 4, 5]
    assert all(row["published_at"] is not None for row in await outbox_rows(pool))


async def test_round_during_backoff_sends_nothing_rather_than_skip_ahead(
    pool: DbPool,
    realtime: respx.Route,
    client: httpx.AsyncClient,
    supabase_settings: Settings,
) -> None:
    await emit_documents(pool, 2)
    realtime.respond(500)
    await publish_pending(pool, settings=supabase_settings, client=client, sleep=RecordedSleeps())
    await emit_documents(pool, 2)
    realtime.reset()
    realtime.respond(202)

    report = await publish_pending(pool, settings=supabase_settings, client=client)

    assert report == PublishReport()
    assert realtime.call_count == 0


async def test_client_error_is_recorded_without_retrying_the_same_request(
    pool: DbPool,
    realtime: respx.Route,
    client: httpx.AsyncClient,
    supabase_settings: Settings,
) -> None:
    await emit_documents(pool, 1)
    realtime.respond(401, json={"message": "Invalid authentication credentials"})

    report = await publish_pending(pool, settings=supabase_settings, client=client)

    assert report == PublishReport(failed_batches=1)
    assert realtime.call_count == 1
    [row] = await outbox_rows(pool)
    assert row["last_publish_error"] == "HTTP 401 Unauthorized: Invalid authentication credentials"


async def test_concurrent_publishers_send_each_event_exactly_once_in_order(
    pool: DbPool,
    realtime: respx.Route,
    client: httpx.AsyncClient,
    supabase_settings: Settings,
) -> None:
    await emit_documents(pool, 60)
    small_batches = supabase_settings.model_copy(update={"realtime_publish_batch_size": 7})

    in_flight = max_in_flight = 0

    async def slow_accept(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, max_in_flight
        in_flight += 1
        max_in_flight = max(max_in_flight, in_flight)
        await asyncio.sleep(0.01)  # gives the other publisher every chance to send meanwhile
        in_flight -= 1
        return httpx.Response(202)

    realtime.side_effect = slow_accept

    reports = await asyncio.gather(
        publish_pending(pool, settings=small_batches, client=client),
        publish_pending(pool, settings=small_batches, client=client),
    )

    assert sum(report.published for report in reports) == 60
    assert sent_ids(realtime) == list(range(1, 61))
    # One batch in flight at a time: a later batch never overtakes one that may yet fail.
    assert max_in_flight == 1


async def test_nothing_is_sent_when_supabase_is_not_configured(
    pool: DbPool, realtime: respx.Route, client: httpx.AsyncClient, settings: Settings
) -> None:
    await emit_documents(pool, 1)

    report = await publish_pending(pool, settings=settings, client=client)

    assert report == PublishReport()
    assert realtime.call_count == 0


async def wait_until_published(pool: DbPool, count: int) -> None:
    async with asyncio.timeout(5):
        while True:
            published = await pool.fetchval(
                "select count(*) from event_outbox where published_at is not null"
            )
            if published >= count:
                return
            await asyncio.sleep(0.01)


async def test_publisher_loop_publishes_when_woken_and_stops_cleanly(
    pool: DbPool,
    realtime: respx.Route,
    client: httpx.AsyncClient,
    supabase_settings: Settings,
) -> None:
    realtime.respond(202)
    slow_ticks = supabase_settings.model_copy(update={"realtime_publish_interval_seconds": 60.0})
    publisher = RealtimePublisher(pool, settings=slow_ticks)
    await publisher.start()
    try:
        await emit_documents(pool, 2)
        publisher.wake()
        await wait_until_published(pool, 2)
    finally:
        await publisher.stop()

    assert not publisher.running
    assert sent_ids(realtime) == [1, 2]


async def test_publisher_loop_keeps_going_after_a_round_that_raised(
    pool: DbPool,
    realtime: respx.Route,
    supabase_settings: Settings,
) -> None:
    await emit_documents(pool, 1)
    realtime.side_effect = [RuntimeError("a bug in a round"), httpx.Response(202)]
    fast_ticks = supabase_settings.model_copy(update={"realtime_publish_interval_seconds": 0.01})
    publisher = RealtimePublisher(pool, settings=fast_ticks)
    await publisher.start()
    try:
        await wait_until_published(pool, 1)
    finally:
        await publisher.stop()

    assert realtime.call_count == 2


# The migration, on a database dressed up as Supabase's: the objects Supabase provides
# (publication, realtime.messages, realtime.topic()) created by hand, as Supabase defines them.

FAKE_SUPABASE_REALTIME = """
create publication supabase_realtime;
create schema realtime;
create table realtime.messages (
    id bigint generated always as identity primary key,
    topic text not null,
    extension text not null,
    payload jsonb,
    event text,
    private boolean default false
);
alter table realtime.messages enable row level security;
create function realtime.topic() returns text language sql stable
    as $$ select nullif(current_setting('realtime.topic', true), '')::text $$;
"""


@pytest.fixture
async def supabase_like(fresh_database: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(fresh_database)
    await connection.execute(FAKE_SUPABASE_REALTIME)
    await apply_migrations(connection, discover_migrations(MIGRATIONS_DIR))
    await connection.execute(
        "grant usage on schema realtime to authenticated;"
        "grant select on realtime.messages to authenticated;"
    )
    yield connection
    await connection.close()


async def can_join(connection: asyncpg.Connection, *, topic: str, claims: dict[str, Any]) -> bool:
    """Realtime's own check: as the user, can a broadcast on this topic be read back?"""
    async with connection.transaction():
        await connection.execute(
            "insert into realtime.messages (topic, extension) values ($1, 'broadcast')", topic
        )
        await connection.execute("set local role authenticated")
        await connection.execute(
            "select set_config('request.jwt.claims', $1, true), "
            "set_config('realtime.topic', $2, true)",
            json.dumps(claims),
            topic,
        )
        readable = await connection.fetchval(
            "select exists (select 1 from realtime.messages where topic = $1)", topic
        )
        await connection.execute("reset role")
        await connection.execute("delete from realtime.messages")
    return bool(readable)


def supabase_user(app_role: str, **claims: Any) -> dict[str, Any]:
    return {
        "sub": str(uuid.uuid4()),
        "role": "authenticated",
        "app_metadata": {"role": app_role},
        **claims,
    }


async def test_migration_adds_existing_domain_tables_to_the_supabase_publication(
    supabase_like: asyncpg.Connection,
) -> None:
    tables = await supabase_like.fetch(
        "select schemaname, tablename from pg_publication_tables "
        "where pubname = 'supabase_realtime'"
    )

    assert {tuple(row) for row in tables} == {
        ("public", "agent_profiles"),
        ("public", "conversations"),
        ("public", "messages"),
        ("public", "approvals"),
    }


async def test_migration_does_nothing_on_plain_postgres(fresh_database: str) -> None:
    await _migrate(fresh_database)
    connection = await asyncpg.connect(fresh_database)
    try:
        publications = await connection.fetchval("select count(*) from pg_publication")
        realtime_schema = await connection.fetchval("select to_regnamespace('realtime')")
    finally:
        await connection.close()

    assert publications == 0
    assert realtime_schema is None


@pytest.mark.parametrize("app_role", ["agent", "supervisor", "admin"])
async def test_staff_may_receive_private_broadcasts_on_every_topic(
    supabase_like: asyncpg.Connection, app_role: str
) -> None:
    claims = supabase_user(app_role)

    for topic in (APPROVALS_TOPIC, DASHBOARD_TOPIC, conversation_topic(uuid.uuid4())):
        assert await can_join(supabase_like, topic=topic, claims=claims)


async def test_customer_may_receive_only_its_own_conversation_topic(
    supabase_like: asyncpg.Connection,
) -> None:
    own, other = uuid.uuid4(), uuid.uuid4()
    claims = supabase_user("customer", conversation_id=str(own))

    assert await can_join(supabase_like, topic=conversation_topic(own), claims=claims)
    assert not await can_join(supabase_like, topic=conversation_topic(other), claims=claims)
    assert not await can_join(supabase_like, topic=APPROVALS_TOPIC, claims=claims)
    assert not await can_join(supabase_like, topic=DASHBOARD_TOPIC, claims=claims)


async def test_customer_without_a_conversation_claim_receives_nothing(
    supabase_like: asyncpg.Connection,
) -> None:
    claims = supabase_user("customer")

    assert not await can_join(supabase_like, topic="conversation:", claims=claims)
