"""External AI agents: action approvals with idempotency, deadlines and callback URLs."""

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.approve.conftest import StaffHeaders, action_request


async def test_same_key_and_body_returns_the_same_approval(
    chat_api: httpx.AsyncClient, staff: StaffHeaders
) -> None:
    service = staff("service")
    body = action_request()

    first = await chat_api.post("/approve/approvals", json=body, headers=service)
    again = await chat_api.post("/approve/approvals", json=body, headers=service)

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]


async def test_same_key_with_another_body_is_409(
    chat_api: httpx.AsyncClient, staff: StaffHeaders
) -> None:
    service = staff("service")
    body = action_request()
    await chat_api.post("/approve/approvals", json=body, headers=service)

    other = await chat_api.post(
        "/approve/approvals", json={**body, "summary": "다른 요청"}, headers=service
    )

    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"


async def test_concurrent_requests_with_one_key_create_one_approval(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection, token_for: Any
) -> None:
    import asyncio  # noqa: PLC0415

    subject = f"svc-{uuid.uuid4().hex[:6]}"
    headers = {"Authorization": f"Bearer {token_for('service', subject=subject)}"}
    body = action_request()

    responses = await asyncio.gather(
        *(chat_api.post("/approve/approvals", json=body, headers=headers) for _ in range(4))
    )

    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    count = await chat_sql.fetchval(
        "select count(*) from approvals where requester_id = $1", subject
    )
    assert count == 1


async def test_the_requester_polls_its_own_approval(
    chat_api: httpx.AsyncClient, token_for: Any
) -> None:
    mine = {"Authorization": f"Bearer {token_for('service', subject='svc-mine')}"}
    other = {"Authorization": f"Bearer {token_for('service', subject='svc-other')}"}
    created = (
        await chat_api.post("/approve/approvals", json=action_request(), headers=mine)
    ).json()

    own = await chat_api.get(f"/approve/approvals/{created['id']}", headers=mine)
    foreign = await chat_api.get(f"/approve/approvals/{created['id']}", headers=other)

    assert own.status_code == 200
    assert own.json()["status"] == "pending"
    assert foreign.status_code == 404


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"deadline_seconds": 0}, "invalid_input"),
        ({"deadline_seconds": 10 * 365 * 24 * 3600}, "deadline_too_long"),
        ({"callback_url": "ftp://127.0.0.1/hook"}, "callback_url_not_allowed"),
        ({"callback_url": "javascript:alert(1)"}, "callback_url_not_allowed"),
        ({"callback_url": "https://evil.example.com/hook"}, "callback_url_not_allowed"),
        ({"conversation_id": str(uuid.uuid4())}, "unknown_conversation"),
        ({"kind": "reply"}, "invalid_input"),
        ({"action": {"name": ""}}, "invalid_input"),
        ({"summary": ""}, "invalid_input"),
    ],
)
async def test_bad_requests_are_422_and_store_nothing(
    chat_api: httpx.AsyncClient,
    chat_sql: asyncpg.Connection,
    staff: StaffHeaders,
    overrides: dict[str, Any],
    code: str,
) -> None:
    body = action_request(**overrides)

    response = await chat_api.post("/approve/approvals", json=body, headers=staff("service"))

    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    stored = await chat_sql.fetchval(
        "select count(*) from approvals where idempotency_key = $1", body["idempotency_key"]
    )
    assert stored == 0


async def test_an_approved_action_changes_no_conversation_without_one(
    chat_api: httpx.AsyncClient, staff: StaffHeaders
) -> None:
    created = (
        await chat_api.post("/approve/approvals", json=action_request(), headers=staff("service"))
    ).json()

    decided = await chat_api.post(
        f"/approve/approvals/{created['id']}/decision",
        json={"decision": "edit", "content": "x"},
        headers=staff("agent"),
    )
    approved = await chat_api.post(
        f"/approve/approvals/{created['id']}/decision",
        json={"decision": "approve", "note": "확인함"},
        headers=staff("agent"),
    )

    assert (decided.status_code, decided.json()["code"]) == (422, "edit_action")
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"


async def test_a_nul_character_postgres_cannot_store_is_422_and_stores_nothing(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection, staff: StaffHeaders
) -> None:
    body = action_request(
        summary="환불\u0000요청", action={"name": "refund", "arguments": {"a\u0000": 1}}
    )

    response = await chat_api.post("/approve/approvals", json=body, headers=staff("service"))

    assert response.status_code == 422
    assert response.json()["code"] == "unstorable_value"
    stored = await chat_sql.fetchval(
        "select count(*) from approvals where idempotency_key = $1", body["idempotency_key"]
    )
    assert stored == 0
