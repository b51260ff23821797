"""Approvals: what a person must decide before the AI's draft or action takes effect.

Status ``pending → approved | edited | rejected | expired | cancelled``; while pending, the
assignee and the escalation level may change. Every change appends to ``approval_audit`` and is
announced on the ``approvals`` and ``dashboard`` topics (never on the conversation's own topic:
its customer must not learn the reasons, let alone the draft), by the statement that makes the
change (the payload from the SQL function ``ccos_approval_change``). Callers lock the row
(``lock_approval``) and check ``status`` first, so of two concurrent decisions exactly one wins.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args
from uuid import UUID

from functions._shared.db.pool import DbConnection
from functions._shared.events.outbox import NOTIFY_SQL, check_topics, flush_batched_events
from functions._shared.events.schemas import (
    APPROVALS_TOPIC,
    DASHBOARD_TOPIC,
    ApprovalStatus,
    EventType,
)
from functions._shared.hitl.conversations import Conversation
from functions._shared.hitl.messages import Citation
from functions._shared.settings import Settings

ApprovalKind = Literal["reply", "action"]
Decision = Literal["approve", "edit", "reject", "expire"]
DECIDED_STATUS: dict[str, ApprovalStatus] = {
    "approve": "approved",
    "edit": "edited",
    "reject": "rejected",
    "expire": "expired",
}


@dataclass(frozen=True)
class Approval:
    id: UUID
    kind: ApprovalKind
    status: ApprovalStatus
    conversation_id: UUID | None
    source_message_id: UUID | None
    reasons: list[str]
    escalation_level: int
    deadline_at: datetime | None
    assignee_id: str | None
    draft: str | None
    draft_citations: list[dict[str, Any]]
    action: dict[str, Any] | None
    summary: str | None
    error: str | None
    requester_id: str
    requester_role: str
    idempotency_key: str | None
    request_hash: str | None
    callback_url: str | None
    decision: Decision | None
    decision_reason: str | None
    decision_note: str | None
    decided_by: str | None
    decided_at: datetime | None
    final_content: str | None
    created_at: datetime
    updated_at: datetime

    def citations(self) -> list[Citation]:
        return [Citation.from_json(c) for c in self.draft_citations]


_COLUMNS = (
    "id, kind, status, conversation_id, source_message_id, reasons, escalation_level,"
    " deadline_at, assignee_id, draft, draft_citations, action, summary, error, requester_id,"
    " requester_role, idempotency_key, request_hash, callback_url, decision, decision_reason,"
    " decision_note, decided_by, decided_at, final_content, created_at, updated_at"
)


def approval_deadline(
    settings: Settings, *, kind: ApprovalKind, reasons: list[str], now: datetime
) -> datetime:
    """The kind's deadline (the default otherwise), shortened by any reason that has a shorter
    one: a safety incident must not wait as long as a refund."""
    by_reason = settings.approval_deadline_seconds_by_reason
    start = settings.approval_deadline_seconds_by_kind.get(kind, settings.approval_deadline_seconds)
    seconds = min([start] + [by_reason[r] for r in reasons if r in by_reason])
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
    callback_url: str | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> Approval:
    """A pending approval with its ``created`` audit entry and ``approval.created``, in one
    statement."""
    created = await _recorded(
        tx,
        change="""insert into approvals
                (kind, reasons, requester_id, requester_role, deadline_at, conversation_id,
                 source_message_id, draft, draft_citations, action, summary, error,
                 callback_url, idempotency_key, request_hash)
            values ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)""",
        arguments=[
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
            callback_url,
            idempotency_key,
            request_hash,
        ],
        from_status=None,
        audit=AuditEntry(
            actor_id=requester_id,
            actor_role=requester_role,
            event="created",
            data={"reasons": reasons, **({"error": error} if error else {})},
        ),
        event=EventType.APPROVAL_CREATED,
    )
    assert created is not None  # an insert always returns its row
    return created


async def find_approval(connection: DbConnection, approval_id: UUID) -> Approval | None:
    row = await connection.fetchrow(f"select {_COLUMNS} from approvals where id = $1", approval_id)
    return Approval(**dict(row)) if row is not None else None


async def claim_due_approval(tx: DbConnection) -> Approval | None:
    """The pending approval whose deadline passed longest ago that no other sweeper holds,
    locked until the transaction ends (concurrent sweepers each get a different one)."""
    row = await tx.fetchrow(
        f"""
        select {_COLUMNS} from approvals
        where status = 'pending' and deadline_at <= now()
        order by deadline_at
        limit 1
        for update skip locked
        """
    )
    return Approval(**dict(row)) if row is not None else None


@dataclass(frozen=True)
class LockedForDecision:
    approval: Approval
    conversation: Conversation | None  # None for an approval with no (or a deleted) one
    pending_in_conversation: int  # the conversation's pending approvals, this one included


async def lock_for_decision(tx: DbConnection, approval_id: UUID) -> LockedForDecision | None:
    """The approval and its conversation, both locked (approval first, the order every path
    takes them in), with the conversation's pending approvals counted: one round trip for what
    a decision reads before it writes."""
    row = await tx.fetchrow(
        f"""
        with a as (
            select {_COLUMNS} from approvals where id = $1 for update
        ), c as (
            select c.id, c.status, c.locale, c.assignee_id, c.created_at, c.closed_at,
                   (select count(*) from approvals p
                    where p.conversation_id = c.id and p.status = 'pending') as pending
            from conversations c
            where c.id = (select conversation_id from a)
            for update of c
        )
        select a.*, c.id as c_id, c.status as c_status, c.locale as c_locale,
               c.assignee_id as c_assignee_id, c.created_at as c_created_at,
               c.closed_at as c_closed_at, c.pending as c_pending
        from a left join c on true
        """,
        approval_id,
    )
    if row is None:
        return None
    fields = dict(row)
    conversation = {name[2:]: fields.pop(name) for name in list(fields) if name.startswith("c_")}
    pending = conversation.pop("pending")
    return LockedForDecision(
        approval=Approval(**fields),
        conversation=Conversation(**conversation) if conversation["id"] is not None else None,
        pending_in_conversation=pending or 0,
    )


async def lock_approval(tx: DbConnection, approval_id: UUID) -> Approval | None:
    """The approval, locked until the transaction ends: check its status after this."""
    row = await tx.fetchrow(
        f"select {_COLUMNS} from approvals where id = $1 for update", approval_id
    )
    return Approval(**dict(row)) if row is not None else None


async def find_by_idempotency_key(
    connection: DbConnection, *, requester_id: str, idempotency_key: str
) -> Approval | None:
    row = await connection.fetchrow(
        f"select {_COLUMNS} from approvals where requester_id = $1 and idempotency_key = $2",
        requester_id,
        idempotency_key,
    )
    return Approval(**dict(row)) if row is not None else None


@dataclass(frozen=True)
class AuditEntry:
    actor_id: str
    actor_role: str
    event: str
    note: str | None = None
    data: dict[str, Any] | None = None


_ANNOUNCED_ON = [APPROVALS_TOPIC, DASHBOARD_TOPIC]


async def _recorded(
    tx: DbConnection,
    *,
    change: str,
    arguments: Sequence[Any],
    from_status: ApprovalStatus | None,
    audit: AuditEntry,
    event: EventType,
    before: str = "",
) -> Approval | None:
    """Run ``change`` (an insert into or update of ``approvals``, its parameters numbered from
    $2; ``before``: WITH items it uses) and, in the same statement, append each changed row's
    audit entry and write its ``event`` on the approvals and dashboard topics; None when nothing
    changed. One round trip for what every approval change must do together."""
    check_topics(_ANNOUNCED_ON, event)
    # Events emitted earlier in the transaction go first, as they were emitted.
    await flush_batched_events(tx)
    first = len(arguments) + 2
    actor_id, actor_role, audit_event, note, data, event_type, topics = (
        f"${first + offset}" for offset in range(7)
    )
    row = await tx.fetchrow(
        f"""
        with {before}
        changed as (
            {change}
            returning {_COLUMNS}, ccos_approval_change(approvals, $1) as payload
        ), audited as (
            insert into approval_audit
                (approval_id, actor_id, actor_role, event, from_status, to_status, note, data)
            select id, {actor_id}, {actor_role}, {audit_event}, $1, status, {note}, {data}
            from changed
        ), announced as (
            insert into event_outbox (topic, type, data)
            select t.topic, {event_type}, changed.payload
            from changed, unnest({topics}::text[]) with ordinality as t(topic, position)
            order by t.position
            returning id
        )
        select {_COLUMNS} from changed, {NOTIFY_SQL}
        """,
        from_status,
        *arguments,
        audit.actor_id,
        audit.actor_role,
        audit.event,
        audit.note,
        audit.data or {},
        event.value,
        _ANNOUNCED_ON,
    )
    return Approval(**dict(row)) if row is not None else None


async def _transition(
    tx: DbConnection,
    *,
    target: str,
    target_argument: Any,
    from_status: ApprovalStatus,
    assignments: str,
    arguments: Sequence[Any],
    audit: AuditEntry,
    event: EventType,
) -> Approval | None:
    """Change the approval ``target`` selects (a query of ``target_id`` taking ``$2``) with
    ``assignments`` (the SET list, its parameters numbered from $3), with its audit entry and
    event (``_recorded``); None when the target selects nothing."""
    return await _recorded(
        tx,
        before=f"target as ({target}),",
        change=f"""update approvals set {assignments}, updated_at = now()
            from target where approvals.id = target.target_id""",
        arguments=[target_argument, *arguments],
        from_status=from_status,
        audit=audit,
        event=event,
    )


_THIS_APPROVAL = "select $2::uuid as target_id"


async def _change_locked(
    tx: DbConnection,
    approval: Approval,
    *,
    assignments: str,
    arguments: Sequence[Any],
    audit: AuditEntry,
    event: EventType,
) -> Approval:
    """``_transition`` of an approval the caller has locked (and so knows to exist)."""
    changed = await _transition(
        tx,
        target=_THIS_APPROVAL,
        target_argument=approval.id,
        from_status=approval.status,
        assignments=assignments,
        arguments=arguments,
        audit=audit,
        event=event,
    )
    assert changed is not None  # the caller holds the row's lock
    return changed


async def claim_next_unassigned(
    tx: DbConnection, *, kind: ApprovalKind | None, assignee_id: str, actor_role: str
) -> Approval | None:
    """Assign the unassigned pending approval with the nearest deadline that no one else is
    taking right now (agents pressing "next" at once each get a different one), in one
    statement; None when there is none."""
    return await _transition(
        tx,
        target="""select id as target_id from approvals
            where status = 'pending' and assignee_id is null and kind = any($2::text[])
            order by deadline_at asc nulls last, created_at, id
            limit 1
            for update skip locked""",
        # A list, not "$2 is null or kind = $2": Postgres then reuses one generic plan instead
        # of planning this statement again on every claim.
        target_argument=[kind] if kind is not None else list(get_args(ApprovalKind)),
        from_status="pending",
        assignments="assignee_id = $3",
        arguments=[assignee_id],
        audit=AuditEntry(
            actor_id=assignee_id,
            actor_role=actor_role,
            event="claimed",
            data={"from_assignee": None, "to_assignee": assignee_id},
        ),
        event=EventType.APPROVAL_UPDATED,
    )


async def assign_approval(
    tx: DbConnection, approval: Approval, *, assignee_id: str, actor_id: str, actor_role: str
) -> Approval:
    """Set the assignee of a locked, pending approval (a claim, or a supervisor's reassignment)."""
    return await _change_locked(
        tx,
        approval,
        assignments="assignee_id = $3",
        arguments=[assignee_id],
        audit=AuditEntry(
            actor_id=actor_id,
            actor_role=actor_role,
            event="claimed" if assignee_id == actor_id else "reassigned",
            data={"from_assignee": approval.assignee_id, "to_assignee": assignee_id},
        ),
        event=EventType.APPROVAL_UPDATED,
    )


async def decide_approval(
    tx: DbConnection,
    approval: Approval,
    *,
    decision: Decision,
    actor_id: str,
    actor_role: str,
    final_content: str | None = None,
    reason: str | None = None,
    note: str | None = None,
) -> Approval:
    """Move a locked, pending approval to its final status, with audit and event."""
    data: dict[str, Any] = {"decision": decision, "reason": reason}
    if decision == "edit":
        data.update(draft=approval.draft, sent=final_content)
    return await _change_locked(
        tx,
        approval,
        assignments="""status = $3, decision = $4, final_content = $5, decision_reason = $6,
            decision_note = $7, decided_by = $8, decided_at = now(),
            -- An expiry is nobody's work: the assignee stays as it was.
            assignee_id = case when $4 = 'expire' then assignee_id
                               else coalesce(assignee_id, $8) end""",
        arguments=[DECIDED_STATUS[decision], decision, final_content, reason, note, actor_id],
        audit=AuditEntry(
            actor_id=actor_id, actor_role=actor_role, event="decided", note=note, data=data
        ),
        event=EventType.APPROVAL_EXPIRED if decision == "expire" else EventType.APPROVAL_UPDATED,
    )


async def escalate_approval(
    tx: DbConnection, approval: Approval, *, deadline_at: datetime, actor_id: str
) -> Approval:
    """One level up for a locked, pending approval whose deadline passed, with its next one."""
    return await _change_locked(
        tx,
        approval,
        assignments="escalation_level = escalation_level + 1, deadline_at = $3",
        arguments=[deadline_at],
        audit=AuditEntry(
            actor_id=actor_id,
            actor_role="system",
            event="escalated",
            data={
                "escalation_level": approval.escalation_level + 1,
                "missed_deadline": (
                    approval.deadline_at.isoformat() if approval.deadline_at else None
                ),
                "deadline_at": deadline_at.isoformat(),
            },
        ),
        event=EventType.APPROVAL_ESCALATED,
    )


def callback_payload(approval: Approval) -> dict[str, Any]:
    """What an external requester receives when its approval is decided or expires."""
    return {
        "id": str(approval.id),
        "kind": approval.kind,
        "status": approval.status,
        "decision": approval.decision,
        "decided_by": approval.decided_by,
        "decided_at": approval.decided_at.isoformat() if approval.decided_at else None,
        "reason": approval.decision_reason,
        "note": approval.decision_note,
        "action": approval.action,
        "summary": approval.summary,
        "conversation_id": str(approval.conversation_id) if approval.conversation_id else None,
        "idempotency_key": approval.idempotency_key,
    }
