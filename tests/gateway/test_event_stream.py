"""GET /events/{topic} over real HTTP (uvicorn on loopback), real embedded Postgres."""

import asyncio
import json
import resource
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from functions._shared.db.pool import init_connection
from functions._shared.events import EventType, conversation_topic, emit
from functions._shared.events.schemas import ConversationUpdated
from functions._shared.settings import Settings
from gateway.app import create_app
from tests.conftest import bearer, serve_over_loopback


@dataclass
class Live:
    base_url: str
    app: FastAPI


@dataclass
class ReceivedEvent:
    id: int | None
    event: str
    data: dict[str, Any]


@pytest.fixture
def stream_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"events_poll_seconds": 0.2, "events_heartbeat_seconds": 0.5})


@pytest.fixture
async def live(stream_settings: Settings) -> AsyncIterator[Live]:
    app = create_app(stream_settings)
    async with serve_over_loopback(app) as base_url:
        yield Live(base_url=base_url, app=app)


@pytest.fixture
async def writer(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    await init_connection(connection)
    yield connection
    await connection.close()


def new_topic() -> tuple[str, uuid.UUID]:
    conversation_id = uuid.uuid4()
    return conversation_topic(conversation_id), conversation_id


async def emit_committed(
    connection: asyncpg.Connection, conversation_id: uuid.UUID, statuses: list[str]
) -> None:
    for status in statuses:
        async with connection.transaction():
            await emit(
                connection,
                topic=conversation_topic(conversation_id),
                type=EventType.CONVERSATION_UPDATED,
                data=ConversationUpdated(conversation_id=conversation_id, status=status),  # type: ignore[arg-type]
            )


class SseReader:
    """Parses one SSE response into events (comments and retry lines skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()
        self.fields: dict[str, str] = {}

    async def events(self, count: int, *, seconds: float = 10) -> list[ReceivedEvent]:
        events: list[ReceivedEvent] = []

        async def collect() -> None:
            async for line in self.lines:
                if line == "":
                    if "data" in self.fields:
                        events.append(self._event())
                    self.fields.clear()
                    if len(events) == count:
                        return
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    self.fields[name] = value

        await asyncio.wait_for(collect(), timeout=seconds)
        return events

    def _event(self) -> ReceivedEvent:
        return ReceivedEvent(
            id=int(self.fields["id"]) if "id" in self.fields else None,
            event=self.fields.get("event", "message"),
            data=json.loads(self.fields["data"]),
        )


async def read_events(response: httpx.Response, count: int) -> list[ReceivedEvent]:
    return await SseReader(response).events(count)


def statuses_of(events: list[ReceivedEvent]) -> list[str]:
    return [event.data["data"]["status"] for event in events]


async def wait_for(condition: Callable[[], bool], seconds: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_committed_event_reaches_two_concurrent_subscribers(
    live: Live, writer: asyncpg.Connection, token_for: Any
) -> None:
    topic, conversation_id = new_topic()
    headers = bearer(token_for("agent"))
    async with (
        httpx.AsyncClient(base_url=live.base_url) as first_client,
        httpx.AsyncClient(base_url=live.base_url) as second_client,
        first_client.stream("GET", f"/events/{topic}", headers=headers) as first,
        second_client.stream("GET", f"/events/{topic}", headers=headers) as second,
    ):
        await wait_for(lambda: live.app.state.event_hub.subscribers(topic) == 2)
        await emit_committed(writer, conversation_id, ["pending_human"])

        received = await asyncio.gather(read_events(first, 1), read_events(second, 1))

    for events in received:
        assert [event.event for event in events] == ["conversation.updated"]
        assert events[0].data["topic"] == topic
        assert events[0].data["id"] == events[0].id
        assert statuses_of(events) == ["pending_human"]


async def test_events_while_no_stream_is_open_only_move_the_mark_a_new_stream_starts_from(
    live: Live, writer: asyncpg.Connection, token_for: Any
) -> None:
    topic, conversation_id = new_topic()
    hub = live.app.state.event_hub
    assert hub.stream_count == 0
    before = hub.last_seq
    await emit_committed(writer, conversation_id, ["ai", "pending_human"])
    await wait_for(lambda: hub.last_seq >= before + 2)  # relayed to nobody, the mark moved

    async with (
        httpx.AsyncClient(base_url=live.base_url) as client,
        client.stream("GET", f"/events/{topic}", headers=bearer(token_for("agent"))) as stream,
    ):
        await wait_for(lambda: hub.subscribers(topic) == 1)
        await emit_committed(writer, conversation_id, ["human"])
        events = await read_events(stream, 1)

    # Live from its start: the events from before it do not arrive late.
    assert statuses_of(events) == ["human"]


async def test_event_of_rolled_back_transaction_reaches_nobody(
    live: Live, writer: asyncpg.Connection, token_for: Any
) -> None:
    topic, conversation_id = new_topic()
    async with (
        httpx.AsyncClient(base_url=live.base_url) as client,
        client.stream("GET", f"/events/{topic}", headers=bearer(token_for("agent"))) as stream,
    ):
        await wait_for(lambda: live.app.state.event_hub.subscribers(topic) == 1)
        transaction = writer.transaction()
        await transaction.start()
        await emit(
            writer,
            topic=topic,
            type=EventType.CONVERSATION_UPDATED,
            data=ConversationUpdated(conversation_id=conversation_id, status="closed"),
        )
        await transaction.rollback()
        await emit_committed(writer, conversation_id, ["human"])

        events = await read_events(stream, 1)

    assert statuses_of(events) == ["human"]


async def test_reconnect_with_last_event_id_gets_exactly_the_missed_events_in_order(
    live: Live, writer: asyncpg.Connection, token_for: Any
) -> None:
    topic, conversation_id = new_topic()
    headers = bearer(token_for("agent"))
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        async with client.stream("GET", f"/events/{topic}", headers=headers) as stream:
            await wait_for(lambda: live.app.state.event_hub.subscribers(topic) == 1)
            await emit_committed(writer, conversation_id, ["ai", "pending_human"])
            seen = await read_events(stream, 2)
        await wait_for(lambda: live.app.state.event_hub.subscribers(topic) == 0)
        await emit_committed(writer, conversation_id, ["human", "closed", "ai"])
        await wait_for(lambda: live.app.state.event_hub.last_seq >= seen[-1].id + 3)

        resume = {**headers, "Last-Event-ID": str(seen[-1].id)}
        async with client.stream("GET", f"/events/{topic}", headers=resume) as stream:
            reader = SseReader(stream)
            missed = await reader.events(3)
            await emit_committed(writer, conversation_id, ["pending_human"])
            live_after = await reader.events(1)

    assert statuses_of(missed) == ["human", "closed", "ai"]
    ids = [event.id for event in missed + live_after]
    assert ids == sorted(ids)
    assert len(set(ids)) == 4
    assert statuses_of(live_after) == ["pending_human"]


async def test_last_event_id_behind_the_retention_window_gets_stream_reset(
    live: Live, writer: asyncpg.Connection, token_for: Any
) -> None:
    topic, conversation_id = new_topic()
    await emit_committed(writer, conversation_id, ["ai"])
    await wait_for(lambda: live.app.state.event_hub.last_seq > 0)
    oldest = await writer.fetchval("select min(seq) from event_outbox where seq is not null")
    if oldest <= 1:
        await writer.execute("delete from event_outbox where seq = $1", oldest)

    headers = {**bearer(token_for("agent")), "Last-Event-ID": "0"}
    async with (
        httpx.AsyncClient(base_url=live.base_url) as client,
        client.stream("GET", f"/events/{topic}", headers=headers) as stream,
    ):
        (reset,) = await read_events(stream, 1)

    assert reset.event == "stream.reset"
    assert reset.id is None
    assert reset.data["data"]["reason"] == "replay_window_exceeded"


async def test_customer_token_gets_its_own_conversation_only(live: Live, token_for: Any) -> None:
    own_topic, own_id = new_topic()
    other_topic, _ = new_topic()
    token = token_for("customer", extra_claims={"conversation_id": str(own_id)})
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        other = await client.get(f"/events/{other_topic}", headers=bearer(token))
        approvals = await client.get("/events/approvals", headers=bearer(token))
        dashboard = await client.get("/events/dashboard", headers=bearer(token))
        async with client.stream("GET", f"/events/{own_topic}", headers=bearer(token)) as own:
            own_status = own.status_code

    assert (other.status_code, approvals.status_code, dashboard.status_code) == (403, 403, 403)
    assert other.json()["code"] == "topic_forbidden"
    assert own_status == 200


async def test_stream_accepts_access_token_query_for_browsers(live: Live, token_for: Any) -> None:
    topic, _ = new_topic()
    async with (
        httpx.AsyncClient(base_url=live.base_url) as client,
        client.stream("GET", f"/events/{topic}?access_token={token_for('agent')}") as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")


async def test_stream_without_token_is_401_and_unknown_topic_is_404(
    live: Live, token_for: Any
) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        anonymous = await client.get("/events/dashboard")
        unknown = await client.get("/events/everything", headers=bearer(token_for("agent")))

    assert anonymous.status_code == 401
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_idle_stream_gets_heartbeat_comments(live: Live, token_for: Any) -> None:
    topic, _ = new_topic()
    async with (
        httpx.AsyncClient(base_url=live.base_url) as client,
        client.stream("GET", f"/events/{topic}", headers=bearer(token_for("agent"))) as stream,
    ):

        async def first_ping() -> str:
            async for line in stream.aiter_lines():
                if line.startswith(":"):
                    return line
            return ""

        assert await asyncio.wait_for(first_ping(), timeout=5) == ": ping"


async def test_subscriber_that_never_reads_is_cut_off_without_memory_growing(
    settings: Settings, writer: asyncpg.Connection, token_for: Any
) -> None:
    small = settings.model_copy(
        update={
            "events_poll_seconds": 0.2,
            "events_subscriber_queue_size": 50,
            "events_send_timeout_seconds": 1.0,
        }
    )
    app = create_app(small)
    topic, conversation_id = new_topic()
    async with serve_over_loopback(app) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        stalled = socket.create_connection(("127.0.0.1", port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request = (
            f"GET /events/{topic} HTTP/1.1\r\nHost: test\r\n"
            f"Authorization: Bearer {token_for('agent')}\r\n\r\n"
        )
        stalled.sendall(request.encode())
        await wait_for(lambda: app.state.event_hub.subscribers(topic) == 1)
        peak_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        large_assignee = "x" * 8000  # 8 KB per event, 2,000 events: 16 MB offered to the client
        for _ in range(20):
            async with writer.transaction():
                for _ in range(100):
                    await emit(
                        writer,
                        topic=topic,
                        type=EventType.CONVERSATION_UPDATED,
                        data=ConversationUpdated(
                            conversation_id=conversation_id,
                            status="human",
                            assignee_id=large_assignee,
                        ),
                    )
        await wait_for(lambda: app.state.event_hub.subscribers(topic) == 0, seconds=15)
        peak_growth_mib = (
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before_kib
        ) / 1024
        stalled.close()

    assert peak_growth_mib < 40, f"server memory grew by {peak_growth_mib:.1f} MiB"


async def test_gateway_broadcasts_events_to_supabase_when_configured(
    settings: Settings, writer: asyncpg.Connection, respx_mock: Any
) -> None:
    broadcast = respx_mock.post("https://ref.supabase.co/realtime/v1/api/broadcast").respond(202)
    configured = settings.model_copy(
        update={
            "supabase_url": "https://ref.supabase.co",
            "supabase_service_role_key": SecretStr("service-key"),
            "events_poll_seconds": 0.2,
            "realtime_publish_interval_seconds": 0.2,
        }
    )
    app = create_app(configured)
    topic, conversation_id = new_topic()

    def broadcast_topics() -> set[str]:
        return {
            message["topic"]
            for call in broadcast.calls
            for message in json.loads(call.request.content)["messages"]
        }

    async with app.router.lifespan_context(app):
        await emit_committed(writer, conversation_id, ["pending_human"])
        await wait_for(lambda: topic in broadcast_topics(), seconds=20)
