"""Agents deciding approvals: approve, edit, reject; conflicts; bad input."""

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from functions._shared.hitl.texts import Notice, customer_text
from tests.approve.conftest import StaffHeaders, action_request, held_turn
from tests.conftest import bearer


async def decide(
    api: httpx.AsyncClient, approval_id: str, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await api.post(f"/approve/approvals/{approval_id}/decision", json=body, headers=headers)


async def conversation(
    api: httpx.AsyncClient, conversation_id: str, headers: dict[str, str]
) -> dict[str, Any]:
    response = await api.get(f"/chat/conversations/{conversation_id}", headers=headers)
    body: dict[str, Any] = response.json()
    return body


async def draft_of(sql: asyncpg.Connection, approval_id: str) -> str:
    draft: str = await sql.fetchval(
        "select draft from approvals where id = $1", uuid.UUID(approval_id)
    )
    return draft


async def test_edit_sends_the_agents_text_and_the_customer_never_sees_the_draft(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection, staff: StaffHeaders
) -> None:
    conversation_id, customer, turn = await held_turn(chat_api)
    approval_id = turn["approval"]["id"]
    draft = await draft_of(chat_sql, approval_id)
    agent = staff("agent")

    claimed = await chat_api.post(f"/approve/approvals/{approval_id}/claim", headers=agent)
    edited = await decide(
        chat_api,
        approval_id,
        agent,
        decision="edit",
        content="불편을 드려 죄송해요. 환불 접수를 도와드릴게요.",
    )

    assert claimed.status_code == 200
    assert edited.status_code == 200
    assert edited.json()["status"] == "edited"
    seen = await conversation(chat_api, conversation_id, customer)
    assert seen["messages"][-1]["role"] == "assistant"
    assert seen["messages"][-1]["content"] == "불편을 드려 죄송해요. 환불 접수를 도와드릴게요."
    assert seen["status"] == "ai"
    assert draft not in str(seen)
    detail = (await chat_api.get(f"/approve/approvals/{approval_id}", headers=agent)).json()
    decided = detail["audit"][-1]
    assert decided["event"] == "decided"
    assert decided["data"]["draft"] == draft
    assert decided["data"]["sent"] == "불편을 드려 죄송해요. 환불 접수를 도와드릴게요."


async def test_approve_sends_the_draft_with_its_citations(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection, staff: StaffHeaders
) -> None:
    conversation_id, customer, turn = await held_turn(chat_api)
    approval_id = turn["approval"]["id"]

    response = await decide(chat_api, approval_id, staff("agent"), decision="approve")

    assert response.status_code == 200
    last = (await conversation(chat_api, conversation_id, customer))["messages"][-1]
    assert last["content"] == await draft_of(chat_sql, approval_id)
    assert last["citations"]


async def test_the_assistant_answers_again_only_once_no_approval_of_the_conversation_waits(
    chat_api: httpx.AsyncClient, staff: StaffHeaders
) -> None:
    conversation_id, customer, turn = await held_turn(chat_api)
    agent = staff("agent")
    other = await chat_api.post(
        "/approve/approvals",
        json=action_request(conversation_id=conversation_id),
        headers=staff("service"),
    )
    assert other.status_code == 201, other.text

    first = await decide(chat_api, turn["approval"]["id"], agent, decision="approve")
    while_one_waits = (await conversation(chat_api, conversation_id, customer))["status"]
    last = await decide(chat_api, other.json()["id"], agent, decision="approve")

    assert first.status_code == 200
    assert while_one_waits == "pending_human"
    assert last.status_code == 200
    # An approved action tells the customer and hands the conversation to the deciding agent.
    assert (await conversation(chat_api, conversation_id, customer))["status"] == "human"


async def test_reject_makes_the_conversation_human_and_tells_the_customer(
    chat_api: httpx.AsyncClient, chat_settings: Any, staff: StaffHeaders
) -> None:
    conversation_id, customer, turn = await held_turn(chat_api)
    agent = staff("agent")

    response = await decide(
        chat_api, turn["approval"]["id"], agent, decision="reject", reason="inaccurate", note="틀림"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    seen = await conversation(chat_api, conversation_id, customer)
    assert seen["status"] == "human"
    assert seen["assignee_id"] is not None
    assert seen["messages"][-1]["role"] == "system"
    assert seen["messages"][-1]["content"] == customer_text(Notice.REJECTED, override_dir=None)


async def test_decision_on_a_decided_approval_is_409_with_its_state(
    chat_api: httpx.AsyncClient, staff: StaffHeaders
) -> None:
    _, _, turn = await held_turn(chat_api)
    approval_id = turn["approval"]["id"]
    await decide(chat_api, approval_id, staff("agent"), decision="reject", reason="tone")

    again = await decide(chat_api, approval_id, staff("agent"), decision="approve")

    assert again.status_code == 409
    assert again.json()["approval_status"] == "rejected"


async def test_two_agents_deciding_at_once_exactly_one_wins(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection, staff: StaffHeaders
) -> None:
    conversation_id, customer, turn = await held_turn(chat_api)
    approval_id = turn["approval"]["id"]

    responses = await asyncio.gather(
        decide(chat_api, approval_id, staff("agent"), decision="approve"),
        decide(chat_api, approval_id, staff("agent"), decision="reject", reason="tone"),
    )

    assert sorted(r.status_code for r in responses) == [200, 409]
    decided = await chat_sql.fetchval(
        "select count(*) from approval_audit where approval_id = $1 and event = 'decided'",
        uuid.UUID(approval_id),
    )
    assert decided == 1
    messages = (await conversation(chat_api, conversation_id, customer))["messages"]
    assert len([m for m in messages if m["role"] in ("assistant", "system")]) == 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"decision": "maybe"}, "invalid_input"),
        ({"decision": "edit"}, "content_required"),
        ({"decision": "edit", "content": "   "}, "content_required"),
        ({"decision": "reject", "reason": "bored"}, "unknown_reject_reason"),
        ({"decision": "reject"}, "unknown_reject_reason"),
        ({"decision": "approve", "content": "다른 글"}, "content_not_allowed"),
    ],
)
async def test_bad_decisions_are_422_and_change_nothing(
    chat_api: httpx.AsyncClient,
    chat_sql: asyncpg.Connection,
    staff: StaffHeaders,
    body: dict[str, Any],
    code: str,
) -> None:
    _, _, turn = await held_turn(chat_api)
    approval_id = turn["approval"]["id"]

    response = await decide(chat_api, approval_id, staff("agent"), **body)

    assert response.status_code == 422
    assert response.json()["code"] == code
    row = await chat_sql.fetchrow(
        "select status, (select count(*) from approval_audit a where a.approval_id = p.id)"
        " as audit from approvals p where id = $1",
        uuid.UUID(approval_id),
    )
    assert (row["status"], row["audit"]) == ("pending", 1)


async def test_claims_serialise_agents_and_supervisors_reassign(
    chat_api: httpx.AsyncClient, staff: StaffHeaders, token_for: Any
) -> None:
    _, _, turn = await held_turn(chat_api)
    url = f"/approve/approvals/{turn['approval']['id']}"
    first = bearer(token_for("agent", subject="agent-kim"))
    second = bearer(token_for("agent", subject="agent-lee"))
    supervisor = bearer(token_for("supervisor", subject="lead-park"))

    claimed = await chat_api.post(f"{url}/claim", headers=first)
    taken = await chat_api.post(f"{url}/claim", headers=second)
    pushed = await chat_api.post(f"{url}/claim", json={"assignee_id": "agent-kim"}, headers=second)
    blocked = await chat_api.post(f"{url}/decision", json={"decision": "approve"}, headers=second)
    reassigned = await chat_api.post(
        f"{url}/claim", json={"assignee_id": "agent-lee"}, headers=supervisor
    )

    assert claimed.json()["assignee_id"] == "agent-kim"
    assert (taken.status_code, taken.json()["code"]) == (409, "already_claimed")
    assert pushed.status_code == 403
    assert blocked.status_code == 409
    assert reassigned.json()["assignee_id"] == "agent-lee"
    audit = (await chat_api.get(url, headers=supervisor)).json()["audit"]
    assert [entry["event"] for entry in audit] == ["created", "claimed", "reassigned"]
