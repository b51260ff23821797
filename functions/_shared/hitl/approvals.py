"""Approvals: what a person must decide before the AI's draft or action takes effect.

Status ``pending → approved | edited | rejected | expired | cancelled``. Every change appends
to ``approval_audit`` and is announced on the ``approvals`` and ``dashboard`` topics (never on
the conversation's own topic: its customer must not learn the reasons, let alone the draft).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from functions._shared.db.pool import DbConnection
from functions._shared.events.outbox import emit
from functions._shared.events.schemas import (
    APPROVALS_TOPIC,
    DASHBOARD_TOPIC,
    ApprovalChange,
    ApprovalStatus,
    EventType,
)
from functions._shared.hitl.messages import Citation
from functions._shared.settings import Settings

ApprovalKind = Literal["reply", "action"]


@dataclass(frozen=True)
class Approval:
    id: UUID
    kind: ApprovalKind
    status: ApprovalStatus
    conversation_id: UUID | None
    reasons: list[str]
    escalation_level: int
    deadline_at: datetime | None
    assignee_id: str | None
    created_at: datetime


_COLUMNS = (
    "id, kind, status, conversation_id, reasons, escalation_level, deadline_at, assignee_id,"
    " created_at"
)


def approval_deadline(settings: Settings, *, reasons: list[str], now: datetime) -> datetime:
    """The shortest deadline configured for any of the reasons (the default otherwise)."""
    by_reason = settings.approval_deadline_seconds_by_reason
    seconds = min(
        [settings.approval_deadline_seconds] + [by_reason[r] for r in reasons if r in by_reason]
    )
    return now + timedelta(seconds=seconds)


async def create_approval(
    tx: DbConnection,
    *,
    kind: ApprovalKind,
    reasons: list[str],
    requester_id: str,
    requester_role: str,
    deadline_at: datetime | None,
    conversation_id: UUID | None = None,
    source_message_id: UUID | None = None,
    draft: str | None = None,
    draft_citations: list[Citation] | None = None,
    action: dict[str, Any] | None = None,
    summary: str | None = None,
    error: str | None = None,
) -> Approval:
    row = await tx.fetchrow(
        f"""
        insert into approvals
            (kind, reasons, requester_id, requester_role, deadline_at, conversation_id,
             source_message_id, draft, draft_citations, action, summary, error)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        returning {_COLUMNS}
        """,
        kind,
        reasons,
        requester_id,
        requester_role,
        deadline_at,
        conversation_id,
        source_message_id,
        draft,
        [c.as_json() for c in draft_citations or []],
        action,
        summary,
        error,
    )
    assert row is not None  # an insert always returns its row
    approval = Approval(**dict(row))
    await append_audit(
        tx,
        approval_id=approval.id,
        actor_id=requester_id,
        actor_role=requester_role,
        event="created",
        from_status=None,
        to_status="pending",
        data={"reasons": reasons, **({"error": error} if error else {})},
    )
    await announce(tx, approval, type=EventType.APPROVAL_CREATED, previous_status=None)
    return approval


async def append_audit(
    tx: DbConnection,
    *,
    approval_id: UUID,
    actor_id: str,
    actor_role: str,
    event: str,
    from_status: str | None,
    to_status: str,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    await tx.execute(
        """
        insert into approval_audit
            (approval_id, actor_id, actor_role, event, from_status, to_status, note, data)
        values ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        approval_id,
        actor_id,
        actor_role,
        event,
        from_status,
        to_status,
        note,
        data or {},
    )


async def announce(
    tx: DbConnection,
    approval: Approval,
    *,
    type: EventType,
    previous_status: ApprovalStatus | None,
) -> None:
    change = ApprovalChange(
        approval_id=approval.id,
        kind=approval.kind,
        status=approval.status,
        previous_status=previous_status,
        escalation_level=approval.escalation_level,
        deadline_at=approval.deadline_at,
        conversation_id=approval.conversation_id,
        assignee_id=approval.assignee_id,
        reasons=approval.reasons,
    )
    for topic in (APPROVALS_TOPIC, DASHBOARD_TOPIC):
        await emit(tx, topic=topic, type=type, data=change)


async def find_approval(connection: DbConnection, approval_id: UUID) -> Approval | None:
    row = await connection.fetchrow(f"select {_COLUMNS} from approvals where id = $1", approval_id)
    return Approval(**dict(row)) if row is not None else None
