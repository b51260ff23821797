"""Faults of the language model over real sockets: an OpenAI-compatible fake server in its own
process answering 429, 500, hanging past the timeout, or cutting a stream in the middle. Each
time the customer is told a person will follow up, an approval with the error is recorded, and
the customer's message is kept."""

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from functions._shared.hitl.texts import Notice, customer_text
from functions._shared.settings import Settings
from gateway.app import create_app
from tests.chat.conftest import post, start_conversation, stream_turn
from tests.conftest import REPO_ROOT, running_client

FAULTS = ["429", "500", "hang", "cut"]
QUESTION = "택배 언제 와요? 어제 주문했어요"
FALLBACK = customer_text(Notice.FALLBACK, override_dir=None)


@pytest.fixture(params=FAULTS)
def fake_openai(request: pytest.FixtureRequest) -> Iterator[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "bench/fake_openai.py",
            "--port",
            "0",
            "--fault",
            request.param,
            "--ttft-ms",
            "0",
            "--tokens-per-second",
            "2000",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("READY "), line
    yield f"http://127.0.0.1:{line.split()[1]}/v1"
    process.terminate()
    process.communicate(timeout=10)  # also closes the pipe


@pytest.fixture
async def faulty_api(chat_settings: Settings, fake_openai: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = chat_settings.model_copy(
        update={
            "chat_provider": "openai",
            "openai_api_key": SecretStr("fake"),
            "openai_base_url": fake_openai,
            "embedding_provider": "local",
            "openai_max_retries": 1,
            "chat_timeout_seconds": 1.0,
            "chat_classifier_timeout_seconds": 0.5,
        }
    )
    async with running_client(create_app(settings)) as client:
        yield client


async def assert_handed_over(
    sql: asyncpg.Connection, conversation_id: str, result: dict[str, object]
) -> None:
    assert result["reply"] is None
    handoff = result["handoff"]
    assert isinstance(handoff, dict)
    assert handoff["notice"]["content"] == FALLBACK
    approval = await sql.fetchrow(
        "select reasons, error from approvals where conversation_id = $1",
        uuid.UUID(conversation_id),
    )
    assert approval is not None
    assert "provider_error" in approval["reasons"]
    assert approval["error"]
    kept = await sql.fetchval(
        "select content from messages where conversation_id = $1 and role = 'customer'",
        uuid.UUID(conversation_id),
    )
    assert kept == QUESTION


async def test_a_failing_model_hands_the_turn_over(
    faulty_api: httpx.AsyncClient, chat_sql: asyncpg.Connection
) -> None:
    conversation_id, customer = await start_conversation(faulty_api)

    response = await asyncio.wait_for(post(faulty_api, conversation_id, customer, QUESTION), 30)

    assert response.status_code == 201
    await assert_handed_over(chat_sql, conversation_id, response.json())


async def test_a_failing_model_hands_a_streamed_turn_over(
    faulty_api: httpx.AsyncClient, chat_sql: asyncpg.Connection
) -> None:
    conversation_id, customer = await start_conversation(faulty_api)

    _, done = await asyncio.wait_for(
        stream_turn(faulty_api, conversation_id, customer, QUESTION), 30
    )

    await assert_handed_over(chat_sql, conversation_id, done)
