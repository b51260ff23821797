"""Timeouts tests: a database of their own with an empty KB (so every customer message is held
for a person, with a deadline of a second), sweeps called directly (the scheduler is off)."""

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from functions._shared.db.pool import DbPool, create_pool
from functions._shared.settings import Settings
from gateway.app import create_app
from tests.chat.conftest import post, start_conversation
from tests.conftest import connected, database_of_its_own, running_client


@pytest.fixture(scope="session")
async def sweep_database_url(server_uri: str) -> AsyncIterator[str]:
    async with database_of_its_own(server_uri, "ccos_sweep") as url:
        yield url


@pytest.fixture
def sweep_settings(settings: Settings, sweep_database_url: str) -> Settings:
    return settings.model_copy(
        update={
            "database_url": SecretStr(sweep_database_url),
            "chat_provider": "offline",
            "chat_start_rate_limit_per_minute": 100_000,
            "chat_address_message_rate_limit_per_minute": 100_000,
            "approval_deadline_seconds": 1,
            "approval_deadline_seconds_by_reason": {},
            "approval_deadline_seconds_by_kind": {},
            "approval_escalation_ladder_seconds": [0.5],
            "scheduler_enabled": False,
            "callback_backoff_base_seconds": 0.1,
            "callback_poll_seconds": 0.1,
        }
    )


@pytest.fixture
async def sweep_api(sweep_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(create_app(sweep_settings)) as client:
        yield client


@pytest.fixture
async def sweep_pool(sweep_settings: Settings, sweep_database_url: str) -> AsyncIterator[DbPool]:
    pool = await create_pool(sweep_settings, sweep_database_url)
    yield pool
    await pool.close()


@pytest.fixture
async def sweep_sql(sweep_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    async with connected(sweep_database_url) as connection:
        yield connection


async def held_conversation(api: httpx.AsyncClient) -> tuple[str, dict[str, str], str]:
    """A conversation whose first message is held (the KB is empty): (id, customer, approval)."""
    conversation_id, customer = await start_conversation(api)
    body: dict[str, Any] = (await post(api, conversation_id, customer, "배송 문의드려요")).json()
    assert body["approval"] is not None, body
    return conversation_id, customer, body["approval"]["id"]
