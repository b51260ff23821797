"""Limits that protect the service and the bill: body size, message rates per address, the
daily token budget, concurrent streamed turns — 413/429 problems with Retry-After, nothing
stored."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import respx

from functions._shared.settings import Settings
from gateway.app import create_app
from tests.chat.conftest import post, start_conversation
from tests.chat.openai_fakes import FakeOpenAI, install, streamed_text
from tests.conftest import running_client


async def test_a_body_over_the_limit_is_413_before_it_is_read(
    chat_api: httpx.AsyncClient,
) -> None:
    conversation_id, customer = await start_conversation(chat_api)
    huge = b'{"content": "' + b"a" * (1024 * 1024 + 10) + b'"}'

    declared = await chat_api.post(
        f"/chat/conversations/{conversation_id}/messages",
        content=huge,
        headers={**customer, "Content-Type": "application/json"},
    )

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    chunked = await chat_api.post(
        f"/chat/conversations/{conversation_id}/messages",
        content=chunks(),
        headers={**customer, "Content-Type": "application/json"},
    )

    for response in (declared, chunked):
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "payload_too_large"


async def test_a_chunked_body_under_the_limit_still_works(chat_api: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"customer": {"name": '
        yield '"김하늘"}}'.encode()

    response = await chat_api.post(
        "/chat/conversations", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 201


async def test_messages_per_address_are_limited_across_conversations(
    chat_settings: Settings,
) -> None:
    settings = chat_settings.model_copy(
        update={
            "chat_address_message_rate_limit_per_minute": 2,
            "client_address_header": "X-Client",
        }
    )
    address = {"X-Client": f"192.0.2.{uuid.uuid4().int % 250}"}
    async with running_client(create_app(settings)) as api:
        statuses = []
        for _ in range(3):
            started = (await api.post("/chat/conversations", json={}, headers=address)).json()
            response = await api.post(
                f"/chat/conversations/{started['id']}/messages",
                json={"content": "배송비 얼마예요?"},
                headers={**address, "Authorization": f"Bearer {started['token']}"},
            )
            statuses.append(response.status_code)

    assert statuses == [201, 201, 429]
    assert int(response.headers["Retry-After"]) >= 1


async def test_a_spent_daily_token_budget_is_429_until_midnight(
    openai_api: httpx.AsyncClient,
    openai_settings: Settings,
    chat_sql: asyncpg.Connection,
    respx_mock: respx.MockRouter,
) -> None:
    install(respx_mock, FakeOpenAI(replies=[lambda: streamed_text(["배송은 1~2일 걸려요 [1]."])]))
    conversation_id, customer = await start_conversation(openai_api)
    first = await post(openai_api, conversation_id, customer, "택배 언제 와요? 어제 주문했어요")
    spent = await chat_sql.fetchval(
        "select tokens from llm_usage where conversation_id = $1", uuid.UUID(conversation_id)
    )
    await chat_sql.execute(
        "update llm_usage set tokens = $2 where conversation_id = $1",
        uuid.UUID(conversation_id),
        openai_settings.chat_daily_token_budget_per_conversation,
    )

    refused = await post(openai_api, conversation_id, customer, "하나 더 물어볼게요")

    assert first.status_code == 201
    assert spent > 0
    assert refused.status_code == 429
    assert refused.json()["code"] == "token_budget_spent"
    assert 1 <= int(refused.headers["Retry-After"]) <= 86400
    stored = await chat_sql.fetchval(
        "select count(*) from messages where conversation_id = $1 and role = 'customer'",
        uuid.UUID(conversation_id),
    )
    assert stored == 1


async def test_streamed_turns_beyond_the_instance_limit_are_429(
    openai_settings: Settings, respx_mock: respx.MockRouter
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_reply(request: httpx.Request) -> httpx.Response:
        if b"response_format" not in request.content:
            entered.set()  # the first stream is open, counted, and waiting for the model
            await release.wait()
        return FakeOpenAI(replies=[lambda: streamed_text(["배송은 1~2일 걸려요 [1]."])])(request)

    respx_mock.post("https://api.openai.com/v1/chat/completions").mock(side_effect=slow_reply)
    settings = openai_settings.model_copy(update={"chat_max_concurrent_streams": 1})
    async with running_client(create_app(settings)) as api:
        first_id, first = await start_conversation(api)
        second_id, second = await start_conversation(api)
        stream_headers = {"Accept": "text/event-stream"}

        async def open_stream() -> httpx.Response:
            return await api.post(
                f"/chat/conversations/{first_id}/messages",
                json={"content": "택배 언제 와요? 어제 주문했어요"},
                headers={**first, **stream_headers},
            )

        holding = asyncio.create_task(open_stream())
        await asyncio.wait_for(entered.wait(), timeout=10)
        refused = await api.post(
            f"/chat/conversations/{second_id}/messages",
            json={"content": "배송비 얼마예요?"},
            headers={**second, **stream_headers},
        )
        release.set()
        held = await holding

    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert held.status_code == 201
    assert "event: done" in held.text


@pytest.mark.parametrize("path", ["/chat/conversations", "/approve/approvals"])
async def test_every_route_has_the_body_limit(chat_api: httpx.AsyncClient, path: str) -> None:
    response = await chat_api.post(
        path, content=b"x" * (1024 * 1024 + 1), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
