"""Supabase Realtime's REST broadcast answering 500 for a while (a minute under `make fuzz`,
`CCOS_REALTIME_OUTAGE_SECONDS`; a few seconds in `make test`): every event written meanwhile is
published after it ends, in order, exactly once, by the running publisher."""

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from pydantic import SecretStr

from functions._shared.db.pool import DbPool, create_pool, transaction
from functions._shared.events import DASHBOARD_TOPIC, EventType, emit
from functions._shared.events.outbox import sequence_ready_events
from functions._shared.events.schemas import DocumentUpdated
from functions._shared.events.supabase import RealtimePublisher
from functions._shared.settings import Settings
from tests.conftest import database_of_its_own

OUTAGE_SECONDS = float(os.environ.get("CCOS_REALTIME_OUTAGE_SECONDS", "3"))
BROADCAST_URL = "https://ref.supabase.co/realtime/v1/api/broadcast"


@pytest.fixture
async def pool(server_uri: str, settings: Settings) -> AsyncIterator[DbPool]:
    async with database_of_its_own(server_uri, "ccos_outage") as url:
        database_pool = await create_pool(settings, url)
        yield database_pool
        await database_pool.close()


async def emit_one(pool: DbPool, number: int) -> None:
    async with transaction(pool) as tx:
        await emit(
            tx,
            topic=DASHBOARD_TOPIC,
            type=EventType.DOCUMENT_UPDATED,
            data=DocumentUpdated(
                document_id=uuid.uuid4(),
                title=f"문서 {number}",
                status="ready",
                chunk_count=1,
                version=1,
            ),
        )


async def sequence_like_the_relay(pool: DbPool, publisher: RealtimePublisher) -> None:
    """What the gateway's relay does: give committed events their seq, wake the publisher."""
    while True:
        async with pool.acquire() as connection:
            if await sequence_ready_events(connection):
                publisher.wake()
        await asyncio.sleep(0.1)


async def test_events_written_during_an_outage_are_published_after_it_in_order_once(
    pool: DbPool, settings: Settings
) -> None:
    outage_ends = time.monotonic() + OUTAGE_SECONDS
    received: list[int] = []
    expected = {"count": -1}
    all_received = asyncio.Event()

    def broadcast(request: httpx.Request) -> httpx.Response:
        if time.monotonic() < outage_ends:
            return httpx.Response(500, json={"message": "realtime is down"})
        received.extend(m["payload"]["id"] for m in json.loads(request.content)["messages"])
        if len(received) >= expected["count"] >= 0:
            all_received.set()
        return httpx.Response(202)

    publisher_settings = settings.model_copy(
        update={
            "supabase_url": "https://ref.supabase.co",
            "supabase_service_role_key": SecretStr("service-key"),
            "realtime_publish_interval_seconds": 0.2,
            "realtime_publish_max_backoff_seconds": 2.0,
        }
    )
    with respx.mock(assert_all_called=False) as router:
        router.post(BROADCAST_URL).mock(side_effect=broadcast)
        publisher = RealtimePublisher(pool, settings=publisher_settings)
        await publisher.start()
        sequencing = asyncio.create_task(sequence_like_the_relay(pool, publisher))
        try:
            number = 0
            while time.monotonic() < outage_ends:
                number += 1
                await emit_one(pool, number)
                publisher.wake()
                await asyncio.sleep(OUTAGE_SECONDS / 10)
            expected["count"] = number
            if len(received) >= number:
                all_received.set()
            await asyncio.wait_for(all_received.wait(), timeout=30)
            await asyncio.sleep(0.5)  # long enough for a duplicate to show
        finally:
            sequencing.cancel()
            await asyncio.wait({sequencing})
            await publisher.stop()

    assert number >= 5
    assert received == sorted(received)
    assert len(received) == len(set(received)) == number
    unpublished = await pool.fetchval(
        "select count(*) from event_outbox where published_at is null"
    )
    assert unpublished == 0
