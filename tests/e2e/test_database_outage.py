"""The database stopped under load and started again: requests get 503 problems (never a 500)
while it is down, then everything recovers without restarting the gateway, the scheduler
included. A Postgres of its own (pgserver in a temporary folder), since it is stopped."""

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from functions._shared.db.embedded import embedded_server, with_database
from functions._shared.db.migrations import apply_migrations, discover_migrations
from functions._shared.settings import Settings
from gateway.app import create_app
from tests.conftest import MIGRATIONS_DIR, bearer, running_client


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    with contextlib.suppress(Exception):
        embedded_server(tmp_path).cleanup()


async def migrated_database(data_dir: Path) -> str:
    server = await asyncio.to_thread(embedded_server, data_dir)
    admin = await asyncpg.connect(server.get_uri())
    await admin.execute("create database outage")
    await admin.close()
    url = with_database(server.get_uri(), "outage")
    connection = await asyncpg.connect(url)
    await apply_migrations(connection, discover_migrations(MIGRATIONS_DIR))
    await connection.close()
    return url


async def test_requests_get_503_while_the_database_is_down_then_recover(
    own_server: Path, settings: Settings, token_for: Any
) -> None:
    url = await migrated_database(own_server)
    app_settings = settings.model_copy(
        update={
            "database_url": SecretStr(url),
            "chat_provider": "offline",
            "chat_start_rate_limit_per_minute": 100_000,
            "approval_deadline_seconds": 1,
            "approval_deadline_seconds_by_reason": {},
            "approval_escalation_ladder_seconds": [],
            "sweep_approvals_interval_seconds": 0.5,
            "database_connect_timeout_seconds": 1.0,
        }
    )
    statuses: Counter[int] = Counter()
    stop = asyncio.Event()
    async with running_client(create_app(app_settings)) as api:

        async def load() -> None:
            while not stop.is_set():
                for response in await asyncio.gather(
                    api.get("/readyz"),
                    api.post("/chat/conversations", json={}),
                    return_exceptions=True,
                ):
                    assert isinstance(response, httpx.Response), response
                    statuses[response.status_code] += 1
                    if response.status_code >= 500:
                        assert response.headers["content-type"].startswith(
                            "application/problem+json"
                        )
                await asyncio.sleep(0.02)

        loader = asyncio.create_task(load())
        await asyncio.sleep(1)
        await asyncio.to_thread(embedded_server(own_server).cleanup)  # the database stops
        await asyncio.sleep(2)
        down = dict(statuses)
        await asyncio.to_thread(embedded_server, own_server)  # and starts again
        await asyncio.sleep(3)
        stop.set()
        await loader

        # Recovered without a restart: a held turn is expired by the scheduler by itself.
        started_response = await api.post("/chat/conversations", json={})
        started = started_response.json()
        turn = (
            await api.post(
                f"/chat/conversations/{started['id']}/messages",
                json={"content": "배송 문의드려요"},
                headers=bearer(started["token"]),
            )
        ).json()
        approval_url = f"/approve/approvals/{turn['approval']['id']}"
        agent = bearer(token_for("agent", subject=f"agent-{uuid.uuid4().hex[:6]}"))
        status = "pending"
        for _ in range(40):
            status = (await api.get(approval_url, headers=agent)).json()["status"]
            if status != "pending":
                break
            await asyncio.sleep(0.25)

    assert 500 not in statuses
    assert down.get(503, 0) > 0, down
    assert statuses[200] > 0
    assert statuses[201] > 0
    assert status == "expired"
