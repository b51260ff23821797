"""The sweeps on the real database with deadlines of a second or less."""

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI, Request, Response

from functions._shared.db.pool import DbPool
from functions._shared.hitl.texts import Notice, customer_text
from functions._shared.settings import Settings
from functions.timeouts.service import (
    run_all_sweeps,
    sweep_approvals,
    sweep_callbacks,
    sweep_idle_conversations,
    sweep_unfinished_turns,
)
from tests.approve.conftest import action_request
from tests.conftest import bearer, serve_over_loopback
from tests.timeouts.conftest import held_conversation

EXPIRED_NOTICE = customer_text(Notice.EXPIRED, override_dir=None)


async def approval_state(sql: asyncpg.Connection, approval_id: str) -> tuple[str, int]:
    row = await sql.fetchrow(
        "select status, escalation_level from approvals where id = $1", uuid.UUID(approval_id)
    )
    assert row is not None
    return row["status"], row["escalation_level"]


async def notices(sql: asyncpg.Connection, conversation_id: str, text: str) -> int:
    count: int = await sql.fetchval(
        "select count(*) from messages where conversation_id = $1 and content = $2",
        uuid.UUID(conversation_id),
        text,
    )
    return count


async def test_pending_approval_escalates_then_expires_and_the_customer_is_told_once(
    sweep_api: httpx.AsyncClient,
    sweep_pool: DbPool,
    sweep_settings: Settings,
    sweep_sql: asyncpg.Connection,
) -> None:
    conversation_id, customer, approval_id = await held_conversation(sweep_api)

    await sweep_approvals(sweep_pool, sweep_settings)
    untouched = await approval_state(sweep_sql, approval_id)
    await asyncio.sleep(1.1)
    await sweep_approvals(sweep_pool, sweep_settings)
    escalated = await approval_state(sweep_sql, approval_id)
    await asyncio.sleep(0.6)
    for _ in range(3):
        await sweep_approvals(sweep_pool, sweep_settings)

    assert untouched == ("pending", 0)
    assert escalated == ("pending", 1)
    assert await approval_state(sweep_sql, approval_id) == ("expired", 1)
    assert await notices(sweep_sql, conversation_id, EXPIRED_NOTICE) == 1
    seen = (await sweep_api.get(f"/chat/conversations/{conversation_id}", headers=customer)).json()
    assert seen["status"] == "pending_human"
    assert seen["messages"][-1]["content"] == EXPIRED_NOTICE
    types = [
        row["type"]
        for row in await sweep_sql.fetch(
            "select type from event_outbox where topic = 'approvals'"
            " and data->>'approval_id' = $1 order by id",
            approval_id,
        )
    ]
    assert types == ["approval.created", "approval.escalated", "approval.expired"]


async def test_approval_decided_a_moment_before_its_deadline_is_not_expired(
    sweep_api: httpx.AsyncClient,
    sweep_pool: DbPool,
    sweep_settings: Settings,
    sweep_sql: asyncpg.Connection,
    token_for: Any,
) -> None:
    conversation_id, _, approval_id = await held_conversation(sweep_api)
    await asyncio.sleep(0.8)
    decided = await sweep_api.post(
        f"/approve/approvals/{approval_id}/decision",
        json={"decision": "edit", "content": "배송은 1~2일 걸려요."},
        headers=bearer(token_for("agent")),
    )
    await asyncio.sleep(1.0)

    for _ in range(2):
        await sweep_approvals(sweep_pool, sweep_settings)

    assert decided.status_code == 200
    assert await approval_state(sweep_sql, approval_id) == ("edited", 0)
    assert await notices(sweep_sql, conversation_id, EXPIRED_NOTICE) == 0


async def test_external_requester_gets_exactly_one_expired_callback(
    sweep_api: httpx.AsyncClient,
    sweep_pool: DbPool,
    sweep_settings: Settings,
    token_for: Any,
) -> None:
    received: list[dict[str, Any]] = []
    receiver = FastAPI()

    async def hook(request: Request) -> Response:
        received.append(json.loads(await request.body()))
        return Response(status_code=204)

    receiver.add_api_route("/hook", hook, methods=["POST"])
    settings = sweep_settings.model_copy(update={"approval_escalation_ladder_seconds": []})
    async with serve_over_loopback(receiver) as hook_base:
        created = (
            await sweep_api.post(
                "/approve/approvals",
                json=action_request(deadline_seconds=1, callback_url=f"{hook_base}/hook"),
                headers=bearer(token_for("service", subject="refund-bot")),
            )
        ).json()
        await asyncio.sleep(1.1)
        for _ in range(3):
            await sweep_approvals(sweep_pool, settings)
            await sweep_callbacks(sweep_pool, settings)

    mine = [payload for payload in received if payload["id"] == created["id"]]
    assert len(mine) == 1
    assert (mine[0]["status"], mine[0]["decision"]) == ("expired", "expire")
    assert mine[0]["action"]["name"] == "issue_refund"


async def test_idle_conversation_closes_once_with_a_notice(
    sweep_api: httpx.AsyncClient,
    sweep_pool: DbPool,
    sweep_settings: Settings,
    sweep_sql: asyncpg.Connection,
    token_for: Any,
) -> None:
    settings = sweep_settings.model_copy(update={"conversation_idle_close_seconds": 1})
    idle, customer = await _conversation_taken_over(sweep_api, token_for)
    waiting, _, _ = await held_conversation(sweep_api)
    await asyncio.sleep(1.1)

    for _ in range(3):
        await sweep_idle_conversations(sweep_pool, settings)

    closing = customer_text(Notice.CLOSED, override_dir=None)
    assert await notices(sweep_sql, idle, closing) == 1
    seen = (await sweep_api.get(f"/chat/conversations/{idle}", headers=customer)).json()
    assert seen["status"] == "closed"
    assert await notices(sweep_sql, waiting, closing) == 0
    late = await sweep_api.post(
        f"/chat/conversations/{idle}/messages", json={"content": "아직 계세요?"}, headers=customer
    )
    assert late.status_code == 409


async def _conversation_taken_over(
    api: httpx.AsyncClient, token_for: Any
) -> tuple[str, dict[str, str]]:
    started = (await api.post("/chat/conversations", json={})).json()
    await api.post(
        f"/chat/conversations/{started['id']}/messages",
        json={"content": "안녕하세요, 상담원입니다."},
        headers=bearer(token_for("agent")),
    )
    return started["id"], bearer(started["token"])


async def test_sweep_endpoint_runs_everything_for_ops_only(
    sweep_api: httpx.AsyncClient, token_for: Any
) -> None:
    service = await sweep_api.post("/timeouts/sweep", headers=bearer(token_for("service")))
    agent = await sweep_api.post("/timeouts/sweep", headers=bearer(token_for("agent")))

    assert service.status_code == 200
    assert set(service.json()) == {
        "approvals",
        "turns",
        "conversations",
        "jobs",
        "callbacks",
        "retention",
        "duration_ms",
    }
    assert agent.status_code == 403


async def test_all_sweeps_run_on_an_idle_database(
    sweep_pool: DbPool, sweep_settings: Settings
) -> None:
    report = await run_all_sweeps(sweep_pool, sweep_settings)

    assert list(report) == [
        "approvals",
        "turns",
        "conversations",
        "jobs",
        "callbacks",
        "retention",
    ]


async def test_a_turn_that_never_finished_is_handed_to_a_person_once(
    sweep_api: httpx.AsyncClient,
    sweep_pool: DbPool,
    sweep_settings: Settings,
    sweep_sql: asyncpg.Connection,
) -> None:
    started = (await sweep_api.post("/chat/conversations", json={})).json()
    customer = bearer(started["token"])
    # What a process killed mid-turn leaves behind: the message stored, its turn never saved.
    await sweep_sql.execute(
        "insert into messages (conversation_id, role, content, client_message_id, created_at)"
        " values ($1, 'customer', '배송 문의드려요', 'm-orphan', now() - interval '5 seconds')",
        uuid.UUID(started["id"]),
    )
    settings = sweep_settings.model_copy(update={"chat_turn_orphan_seconds": 2.0})

    first = await sweep_unfinished_turns(sweep_pool, settings)
    second = await sweep_unfinished_turns(sweep_pool, settings)
    again = await sweep_api.post(
        f"/chat/conversations/{started['id']}/messages",
        json={"content": "배송 문의드려요", "client_message_id": "m-orphan"},
        headers=customer,
    )

    assert first["handed_over"] >= 1
    assert second["handed_over"] == 0
    assert again.status_code == 201
    body = again.json()
    assert body["reply"] is None
    assert body["handoff"]["conversation_status"] == "pending_human"
    assert body["handoff"]["notice"]["content"] == customer_text(Notice.FALLBACK, override_dir=None)
    reasons = await sweep_sql.fetchval(
        "select reasons from approvals where id = $1", uuid.UUID(body["approval"]["id"])
    )
    assert reasons == ["provider_error"]
