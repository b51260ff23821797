"""Posting messages: bad input, idempotency, agents' own messages, conversation states."""

import asyncio
import uuid
from collections.abc import Callable

import asyncpg
import httpx
import pytest

from tests.chat.conftest import post, start_conversation


async def message_count(sql: asyncpg.Connection, conversation_id: str) -> int:
    count: int = await sql.fetchval(
        "select count(*) from messages where conversation_id = $1", uuid.UUID(conversation_id)
    )
    return count


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("", "empty_message"),
        ("   \n\t  ", "empty_message"),
        ("가" * 10_000, "message_too_long"),
        ("배송\x00조회", "control_characters"),
        ("배송\x1b[31m조회", "control_characters"),
        ("배송\x85조회", "control_characters"),
    ],
)
async def test_bad_content_is_422_and_nothing_is_stored(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection, content: str, code: str
) -> None:
    conversation_id, customer = await start_conversation(chat_api)

    response = await post(chat_api, conversation_id, customer, content)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert await message_count(chat_sql, conversation_id) == 0


async def test_non_utf8_body_is_422_and_nothing_is_stored(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection
) -> None:
    conversation_id, customer = await start_conversation(chat_api)

    response = await chat_api.post(
        f"/chat/conversations/{conversation_id}/messages",
        content='{"content": "배송'.encode("cp949") + b'"}',
        headers={**customer, "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert await message_count(chat_sql, conversation_id) == 0


async def test_closed_conversation_is_409_and_nothing_is_stored(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection
) -> None:
    conversation_id, customer = await start_conversation(chat_api)
    await chat_sql.execute(
        "update conversations set status = 'closed' where id = $1", uuid.UUID(conversation_id)
    )

    response = await post(chat_api, conversation_id, customer, "아직 계신가요?")

    assert response.status_code == 409
    assert response.json()["code"] == "conversation_closed"
    assert await message_count(chat_sql, conversation_id) == 0


async def test_same_client_message_id_posted_concurrently_is_stored_once(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection
) -> None:
    conversation_id, customer = await start_conversation(chat_api)

    first, second = await asyncio.gather(
        *(
            post(
                chat_api,
                conversation_id,
                customer,
                "반품 배송비는 얼마예요?",
                client_message_id="m-1",
            )
            for _ in range(2)
        )
    )

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    customer_messages = await chat_sql.fetchval(
        "select count(*) from messages where conversation_id = $1 and role = 'customer'",
        uuid.UUID(conversation_id),
    )
    assert customer_messages == 1
    assert await message_count(chat_sql, conversation_id) == 2  # the message and one reply


async def test_same_client_message_id_later_returns_the_first_result(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection
) -> None:
    conversation_id, customer = await start_conversation(chat_api)
    first = await post(
        chat_api,
        conversation_id,
        customer,
        "적립금 유효기간이 어떻게 돼요?",
        client_message_id="abc",
    )

    again = await post(chat_api, conversation_id, customer, "다른 내용", client_message_id="abc")

    assert again.status_code == 201
    assert again.json() == first.json()
    assert await message_count(chat_sql, conversation_id) == 2


async def test_agent_message_is_sent_as_is_and_takes_the_conversation_over(
    chat_api: httpx.AsyncClient, staff: Callable[[str], dict[str, str]]
) -> None:
    conversation_id, customer = await start_conversation(chat_api)
    agent = staff("agent")

    response = await post(chat_api, conversation_id, agent, "안녕하세요, 상담원 김하늘입니다.")
    follow_up = await post(chat_api, conversation_id, customer, "네 안녕하세요. 배송 문의요")

    assert response.status_code == 201
    body = response.json()
    assert body["message"]["role"] == "agent"
    assert body["reply"] is None
    assert body["approval"] is None
    conversation = (
        await chat_api.get(f"/chat/conversations/{conversation_id}", headers=customer)
    ).json()
    assert conversation["status"] == "human"
    assert conversation["assignee_id"] is not None
    assert follow_up.json()["reply"] is None
    assert follow_up.json()["handoff"] == {"conversation_status": "human", "notice": None}


async def test_service_role_may_not_post_messages(
    chat_api: httpx.AsyncClient, staff: Callable[[str], dict[str, str]]
) -> None:
    conversation_id, _ = await start_conversation(chat_api)

    response = await post(chat_api, conversation_id, staff("service"), "hello")

    assert response.status_code == 403


async def test_customer_message_is_stored_masked(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection
) -> None:
    conversation_id, customer = await start_conversation(chat_api)

    response = await post(chat_api, conversation_id, customer, "제 번호는 010-2345-6789 예요")

    assert "010-2345-6789" not in response.text
    stored = await chat_sql.fetchval(
        "select content from messages where conversation_id = $1 and role = 'customer'",
        uuid.UUID(conversation_id),
    )
    assert "010-2345-6789" not in stored
    assert "[전화번호]" in stored


async def test_message_rate_limit_per_conversation_is_429_with_retry_after(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection
) -> None:
    conversation_id, customer = await start_conversation(chat_api)
    await chat_sql.execute(
        "insert into rate_limit_windows (key, window_start, hits)"
        " values ($1, to_timestamp(floor(extract(epoch from now()) / 60) * 60), 30)",
        f"chat-message:{conversation_id}",
    )

    response = await post(chat_api, conversation_id, customer, "배송 문의요")

    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert await message_count(chat_sql, conversation_id) == 0
