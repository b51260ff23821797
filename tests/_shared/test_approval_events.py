"""Approval changes write their audit entry and events in the statement that changes them: the
payload Postgres builds must be the one the API's model gives, and the outbox must keep the
order events were emitted in."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from functions._shared.db.pool import DbConnection, DbPool, autocommit, create_pool, transaction
from functions._shared.events import EventType, conversation_topic, emit
from functions._shared.events.outbox import take_batched_events
from functions._shared.events.schemas import ApprovalChange, ConversationUpdated
from functions._shared.hitl.approvals import (
    Approval,
    claim_next_unassigned,
    create_approval,
    decide_approval,
    lock_approval,
)
from functions._shared.hitl.conversations import lock_conversation, set_conversation_status
from functions._shared.settings import Settings
from tests.conftest import database_of_its_own


@pytest.fixture
async def pool(server_uri: str, settings: Settings) -> AsyncIterator[DbPool]:
    async with database_of_its_own(server_uri, "approval_events") as url:
        database_pool = await create_pool(
            settings.model_copy(update={"database_url": SecretStr(url)}), url
        )
        yield database_pool
        await database_pool.close()


def model_payload(approval: Approval, previous_status: str | None) -> dict[str, object]:
    return ApprovalChange(
        approval_id=approval.id,
        kind=approval.kind,
        status=approval.status,
        previous_status=previous_status,  # type: ignore[arg-type]
        escalation_level=approval.escalation_level,
        deadline_at=approval.deadline_at,
        conversation_id=approval.conversation_id,
        assignee_id=approval.assignee_id,
        reasons=approval.reasons,
    ).model_dump(mode="json")


async def new_conversation(pool: DbPool) -> uuid.UUID:
    conversation_id: uuid.UUID = await pool.fetchval(
        "insert into conversations (status) values ('pending_human') returning id"
    )
    return conversation_id


async def outbox(pool: DbPool) -> list[tuple[str, str, dict[str, object]]]:
    rows = await pool.fetch("select topic, type, data from event_outbox order by id")
    return [(row["topic"], row["type"], row["data"]) for row in rows]


async def reply_approval(
    tx: DbConnection, conversation_id: uuid.UUID, deadline_at: datetime | None = None
) -> Approval:
    return await create_approval(
        tx,
        kind="reply",
        reasons=["low_confidence", "pii"],
        requester_id="assistant",
        requester_role="system",
        deadline_at=deadline_at,
        conversation_id=conversation_id,
        draft="초안",
    )


async def emit_pending_human(tx: DbConnection, conversation_id: uuid.UUID) -> None:
    await emit(
        tx,
        topic=conversation_topic(conversation_id),
        type=EventType.CONVERSATION_UPDATED,
        data=ConversationUpdated(conversation_id=conversation_id, status="pending_human"),
    )


@pytest.mark.parametrize(
    "deadline_at",
    [
        None,
        datetime(2026, 11, 26, 9, 30, tzinfo=UTC),  # no fraction: the API writes none
        datetime(2026, 11, 26, 9, 30, 5, 400, tzinfo=UTC),  # leading zeros kept
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
async def test_the_payload_postgres_builds_is_the_api_models(
    pool: DbPool, deadline_at: datetime | None
) -> None:
    conversation_id = await new_conversation(pool)
    async with transaction(pool) as tx:
        created = await reply_approval(tx, conversation_id, deadline_at)
    async with transaction(pool) as tx:
        action = await create_approval(
            tx,
            kind="action",
            reasons=[],
            requester_id="svc",
            requester_role="service",
            deadline_at=deadline_at,
            action={"name": "refund", "arguments": {}},
        )
    async with autocommit(pool) as connection:
        claimed = await claim_next_unassigned(
            connection, kind="reply", assignee_id="agent-1", actor_role="agent"
        )
    assert claimed is not None
    assert claimed.id == created.id

    events = [(t, kind, data) for t, kind, data in await outbox(pool) if t == "approvals"]
    assert events == [
        ("approvals", "approval.created", model_payload(created, None)),
        ("approvals", "approval.created", model_payload(action, None)),
        ("approvals", "approval.updated", model_payload(claimed, "pending")),
    ]
    # Every change is on the dashboard too, with the same payload, right after.
    everything = await outbox(pool)
    assert [topic for topic, _, _ in everything] == ["approvals", "dashboard"] * 3
    assert everything[0][2] == everything[1][2]


async def test_events_emitted_before_a_change_stay_before_it(pool: DbPool) -> None:
    conversation_id = await new_conversation(pool)
    async with transaction(pool) as tx:
        await emit_pending_human(tx, conversation_id)
        await reply_approval(tx, conversation_id)
    assert [kind for _, kind, _ in await outbox(pool)] == [
        "conversation.updated",
        "approval.created",
        "approval.created",
    ]


async def test_a_status_change_writes_the_batched_events_with_its_own(pool: DbPool) -> None:
    conversation_id = await new_conversation(pool)
    async with transaction(pool) as tx:
        approval = await reply_approval(tx, conversation_id)
    async with transaction(pool) as tx:
        locked = await lock_approval(tx, approval.id)
        assert locked is not None
        await decide_approval(
            tx, locked, decision="reject", actor_id="agent-1", actor_role="agent", reason="x"
        )
        conversation = await lock_conversation(tx, conversation_id)
        assert conversation is not None
        await emit_pending_human(tx, conversation_id)
        await set_conversation_status(tx, conversation, status="human", assignee_id="agent-1")
        # Written by the status change's statement: nothing is left for the commit.
        assert take_batched_events(tx) == []
        written = await tx.fetch("select type, data from event_outbox order by id")
    kinds = [kind for _, kind, _ in await outbox(pool)]
    assert kinds[2:] == [
        "approval.updated",
        "approval.updated",
        "conversation.updated",
        "conversation.updated",
        "conversation.updated",
    ]
    assert [row["data"]["status"] for row in written[-3:]] == ["pending_human", "human", "human"]
    assert written[-1]["data"]["previous_status"] == "pending_human"
    assert written[-1]["data"]["assignee_id"] == "agent-1"


async def test_a_rolled_back_status_change_leaves_no_event(pool: DbPool) -> None:
    conversation_id = await new_conversation(pool)

    async def change_then_fail() -> None:
        async with transaction(pool) as tx:
            conversation = await lock_conversation(tx, conversation_id)
            assert conversation is not None
            await set_conversation_status(tx, conversation, status="human")
            raise RuntimeError("the rest of the transaction failed")

    with pytest.raises(RuntimeError):
        await change_then_fail()
    assert await outbox(pool) == []
    assert (
        await pool.fetchval("select status from conversations where id = $1", conversation_id)
        == "pending_human"
    )
