"""Starting and reading conversations: customer tokens, roles, rate limits, RLS."""

import json
import uuid
from collections.abc import Callable

import asyncpg
import httpx
import pytest

from functions._shared.settings import AppMode, Settings
from gateway.app import create_app
from tests.chat.conftest import post, start_conversation
from tests.conftest import running_client


async def test_starting_returns_a_token_for_that_conversation(chat_api: httpx.AsyncClient) -> None:
    response = await chat_api.post(
        "/chat/conversations", json={"customer": {"name": "김하늘", "external_id": "c-1"}}
    )

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "ai"
    me = await chat_api.get("/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json()["role"] == "customer"


async def test_customer_reads_own_conversation_with_messages_in_order(
    chat_api: httpx.AsyncClient,
) -> None:
    conversation_id, customer = await start_conversation(chat_api)
    await post(chat_api, conversation_id, customer, "배송비는 얼마예요?")

    response = await chat_api.get(f"/chat/conversations/{conversation_id}", headers=customer)

    assert response.status_code == 200
    roles = [message["role"] for message in response.json()["messages"]]
    assert roles[0] == "customer"
    assert len(roles) == 2


async def test_another_conversations_token_is_403(chat_api: httpx.AsyncClient) -> None:
    conversation_id, _ = await start_conversation(chat_api)
    _, other_customer = await start_conversation(chat_api)

    read = await chat_api.get(f"/chat/conversations/{conversation_id}", headers=other_customer)
    posted = await post(chat_api, conversation_id, other_customer, "안녕하세요")

    assert (read.status_code, posted.status_code) == (403, 403)
    assert posted.json()["code"] == "wrong_conversation"


async def test_reading_without_a_token_is_401(chat_api: httpx.AsyncClient) -> None:
    conversation_id, _ = await start_conversation(chat_api)

    response = await chat_api.get(f"/chat/conversations/{conversation_id}")

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_agent_reads_any_conversation_and_unknown_is_404(
    chat_api: httpx.AsyncClient, staff: Callable[[str], dict[str, str]]
) -> None:
    conversation_id, _ = await start_conversation(chat_api)

    found = await chat_api.get(f"/chat/conversations/{conversation_id}", headers=staff("agent"))
    missing = await chat_api.get(f"/chat/conversations/{uuid.uuid4()}", headers=staff("agent"))

    assert (found.status_code, missing.status_code) == (200, 404)


async def test_starting_is_rate_limited_per_client_address(chat_settings: Settings) -> None:
    settings = chat_settings.model_copy(
        update={"chat_start_rate_limit_per_minute": 2, "client_address_header": "X-Client"}
    )
    address = {"X-Client": f"203.0.113.{uuid.uuid4().int % 250}, 10.0.0.1"}
    other_address = {"X-Client": f"198.51.100.{uuid.uuid4().int % 250}"}
    async with running_client(create_app(settings)) as api:
        statuses = [
            (await api.post("/chat/conversations", json={}, headers=address)).status_code
            for _ in range(3)
        ]
        refused = await api.post("/chat/conversations", json={}, headers=address)
        other = await api.post("/chat/conversations", json={}, headers=other_address)

    assert statuses == [201, 201, 429]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert other.status_code == 201


async def test_unknown_fields_and_locales_are_422(chat_api: httpx.AsyncClient) -> None:
    unknown_field = await chat_api.post("/chat/conversations", json={"admin": True})
    unknown_locale = await chat_api.post("/chat/conversations", json={"locale": "xx"})

    assert (unknown_field.status_code, unknown_locale.status_code) == (422, 422)


def _claims(role: str) -> str:
    return json.dumps(
        {"sub": str(uuid.uuid4()), "role": "authenticated", "app_metadata": {"role": role}}
    )


async def test_rls_lets_agents_read_conversation_tables_and_nobody_else(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection
) -> None:
    conversation_id, customer = await start_conversation(chat_api)
    await post(chat_api, conversation_id, customer, "환불해 주세요")
    tables = ("conversations", "messages", "approvals", "approval_audit")

    async def visible(role: str, claims: str | None) -> dict[str, int]:
        counts = {}
        async with chat_sql.transaction():
            await chat_sql.execute(f"set local role {role}")
            if claims is not None:
                await chat_sql.execute("select set_config('request.jwt.claims', $1, true)", claims)
            for table in tables:
                counts[table] = await chat_sql.fetchval(f"select count(*) from {table}")
        return counts

    agent = await visible("authenticated", _claims("agent"))
    customer_token = await visible("authenticated", _claims("customer"))

    assert all(count > 0 for count in agent.values()), agent
    assert set(customer_token.values()) == {0}
    for table in tables:
        async with chat_sql.transaction():
            await chat_sql.execute("set local role anon")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await chat_sql.fetchval(f"select count(*) from {table}")


async def test_without_a_signing_secret_starting_is_503_not_500(chat_settings: Settings) -> None:
    settings = chat_settings.model_copy(
        update={
            "app_mode": AppMode.PRODUCTION,
            "supabase_url": "https://project.supabase.co",
            "supabase_jwt_secret": None,
        }
    )
    async with running_client(create_app(settings)) as api:
        response = await api.post("/chat/conversations", json={})

    assert response.status_code == 503
    assert response.json()["code"] == "no_signing_secret"
