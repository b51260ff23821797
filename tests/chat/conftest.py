"""Chat tests run against a database of their own holding the sample Korean KB (ingested once
per session), so that turns retrieve real passages and other tests' documents do not mix in."""

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from functions._shared.settings import Settings
from gateway.app import create_app
from gateway.kb_cli import ingest
from tests.conftest import REPO_ROOT, bearer, connected, database_of_its_own, running_client


@pytest.fixture(scope="session")
async def chat_database_url(server_uri: str) -> AsyncIterator[str]:
    async with database_of_its_own(server_uri, "ccos_chat") as url:
        await ingest(Settings(_env_file=None, database_url=url), [REPO_ROOT / "examples" / "kb"])  # type: ignore[call-arg]
        yield url


@pytest.fixture
def chat_settings(settings: Settings, chat_database_url: str) -> Settings:
    """The offline provider, and OpenAI's retries short enough for tests."""
    return settings.model_copy(
        update={
            "database_url": SecretStr(chat_database_url),
            "chat_provider": "offline",
            "openai_max_retries": 1,
            "chat_timeout_seconds": 2.0,
            # Every test starts conversations from the same test client address.
            "chat_start_rate_limit_per_minute": 100_000,
            "chat_address_message_rate_limit_per_minute": 100_000,
        }
    )


@pytest.fixture
async def chat_api(chat_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(create_app(chat_settings)) as client:
        yield client


@pytest.fixture
async def chat_sql(chat_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    async with connected(chat_database_url) as connection:
        yield connection


@pytest.fixture
def staff(token_for: Callable[..., str]) -> Callable[[str], dict[str, str]]:
    def headers(role: str = "agent") -> dict[str, str]:
        return bearer(token_for(role, subject=f"{role}-{uuid.uuid4().hex[:6]}"))

    return headers


async def start_conversation(api: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    response = await api.post("/chat/conversations", json={})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body["id"], bearer(body["token"])


async def post(
    api: httpx.AsyncClient,
    conversation_id: str,
    headers: dict[str, str],
    content: str,
    **extra: Any,
) -> httpx.Response:
    return await api.post(
        f"/chat/conversations/{conversation_id}/messages",
        json={"content": content, **extra},
        headers=headers,
    )


@pytest.fixture
def openai_settings(chat_settings: Settings) -> Settings:
    """The OpenAI provider (mocked by respx); queries still embedded locally like the KB."""
    return chat_settings.model_copy(
        update={
            "chat_provider": "openai",
            "openai_api_key": SecretStr("sk-test"),
            "embedding_provider": "local",
        }
    )


@pytest.fixture
async def openai_api(openai_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(create_app(openai_settings)) as client:
        yield client


async def stream_turn(
    api: httpx.AsyncClient, conversation_id: str, headers: dict[str, str], content: str
) -> tuple[list[str], dict[str, Any]]:
    """Post with Accept: text/event-stream; returns the delta texts and the done payload."""
    deltas: list[str] = []
    done: dict[str, Any] = {}
    async with api.stream(
        "POST",
        f"/chat/conversations/{conversation_id}/messages",
        json={"content": content},
        headers={**headers, "Accept": "text/event-stream"},
    ) as response:
        assert response.status_code == 201, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                if event == "delta":
                    deltas.append(data["text"])
                elif event == "done":
                    done = data
                else:
                    raise AssertionError(f"unexpected event {event}: {data}")
    return deltas, done
