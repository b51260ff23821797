"""The approval queue: list, detail, claim, decide; and external agents' action requests.

Each operation is one transaction (the caller's ``tx``): the approval row, its audit entry, the
message to the customer where one is due, the conversation's state, the events, and the
callback to an external requester are committed together or not at all.
"""

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from uuid import UUID

from functions._shared.auth.tokens import Principal, Role
from functions._shared.db.pool import DbConnection
from functions._shared.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from functions._shared.hitl.approvals import (
    Approval,
    ApprovalKind,
    approval_deadline,
    assign_approval,
    callback_payload,
    claim_next_unassigned,
    create_approval,
    decide_approval,
    find_approval,
    find_by_idempotency_key,
    lock_approval,
    lock_for_decision,
)
from functions._shared.hitl.callbacks import enqueue_callback, validate_callback_url
from functions._shared.hitl.conversations import Conversation, set_conversation_status
from functions._shared.hitl.messages import (
    Citation,
    StoredMessage,
    conversation_messages,
    deliver_message,
)
from functions._shared.hitl.texts import Notice, customer_text
from functions._shared.settings import Settings
from functions.approve import queries
from functions.approve.schemas import (
    ActionApprovalCreate,
    ApprovalDetail,
    ApprovalPage,
    ApprovalSummary,
    ClaimRequest,
    DecisionRequest,
)

EXTERNAL_REQUEST_REASON = "external_request"
SUPERVISING_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
_CITATION_NUMBER = re.compile(r"\[(\d{1,3})(?:\s*,\s*\d{1,3})*\]")


def summary_view(approval: Approval) -> ApprovalSummary:
    return ApprovalSummary.model_validate(approval, from_attributes=True)


def _no_such_approval() -> NotFound:
    return NotFound("No such approval.", code="approval_not_found")


async def list_queue(
    connection: DbConnection,
    *,
    status: str | None,
    kind: str | None,
    assignee_id: str | None,
    escalation_level: int | None,
    limit: int,
    offset: int,
) -> ApprovalPage:
    rows, total = await queries.list_approvals(
        connection,
        status=status,
        kind=kind,
        assignee_id=assignee_id,
        escalation_level=escalation_level,
        limit=limit,
        offset=offset,
    )
    return ApprovalPage(
        approvals=[ApprovalSummary.model_validate(dict(row)) for row in rows], total=total
    )


async def approval_detail(
    connection: DbConnection, *, settings: Settings, principal: Principal, approval_id: UUID
) -> ApprovalDetail:
    approval = await find_approval(connection, approval_id)
    # A service or admin polling its own request may read it; other services learn nothing.
    if approval is None or (not principal.is_staff and approval.requester_id != principal.subject):
        raise _no_such_approval()
    messages: list[StoredMessage] = []
    conversation_status = None
    if approval.conversation_id is not None:
        conversation_status = await queries.conversation_status(
            connection, approval.conversation_id
        )
        if principal.is_staff:
            messages = await conversation_messages(
                connection, approval.conversation_id, last=settings.approval_detail_messages
            )
    return ApprovalDetail.model_validate(
        {
            **approval.__dict__,
            "conversation_status": conversation_status,
            "messages": [
                {"id": m.id, "role": m.role, "content": m.content, "created_at": m.created_at}
                for m in messages
            ],
            "audit": [dict(row) for row in await queries.audit_entries(connection, approval.id)],
            "callbacks": await queries.callback_deliveries(connection, approval.id),
        }
    )


async def _locked_pending(tx: DbConnection, approval_id: UUID) -> Approval:
    return _pending(await lock_approval(tx, approval_id))


def _pending(approval: Approval | None) -> Approval:
    if approval is None:
        raise _no_such_approval()
    if approval.status != "pending":
        raise Conflict(
            f"The approval is already {approval.status}.",
            code="approval_not_pending",
            extra={"approval_status": approval.status, "decided_by": approval.decided_by},
        )
    return approval


async def claim(
    tx: DbConnection, *, principal: Principal, approval_id: UUID, body: ClaimRequest
) -> ApprovalSummary:
    approval = await _locked_pending(tx, approval_id)
    assignee = body.assignee_id or principal.subject
    supervising = principal.role in SUPERVISING_ROLES
    if assignee != principal.subject and not supervising:
        raise PermissionDenied(
            "Only supervisors and admins assign approvals to others.", code="reassign_forbidden"
        )
    if approval.assignee_id not in (None, principal.subject) and not supervising:
        raise Conflict(
            "Another agent has claimed this approval.",
            code="already_claimed",
            extra={"assignee_id": approval.assignee_id},
        )
    if approval.assignee_id == assignee:
        return summary_view(approval)
    updated = await assign_approval(
        tx,
        approval,
        assignee_id=assignee,
        actor_id=principal.subject,
        actor_role=str(principal.role),
    )
    return summary_view(updated)


async def claim_next(
    connection: DbConnection, *, principal: Principal, kind: ApprovalKind | None
) -> ApprovalSummary | None:
    """Assign the caller the most urgent unassigned approval (one statement: ``connection``
    needs no transaction); None when there is none."""
    claimed = await claim_next_unassigned(
        connection, kind=kind, assignee_id=principal.subject, actor_role=str(principal.role)
    )
    return summary_view(claimed) if claimed is not None else None


def _checked_decision(
    settings: Settings, approval: Approval, body: DecisionRequest
) -> tuple[str | None, str | None]:
    """The text to send and the reject reason, or a 422 for a decision that cannot apply."""
    if body.decision == "edit":
        if approval.kind == "action":
            raise InvalidInput("An action can only be approved or rejected.", code="edit_action")
        if body.content is None or not body.content.strip():
            raise InvalidInput("`edit` needs the content to send.", code="content_required")
        return body.content.strip(), None
    if body.content is not None:
        raise InvalidInput("`content` goes with `edit` only.", code="content_not_allowed")
    if body.decision == "reject":
        if body.reason not in settings.approval_reject_reasons:
            raise InvalidInput(
                "`reject` needs a reason from: " + ", ".join(settings.approval_reject_reasons),
                code="unknown_reject_reason",
            )
        return None, body.reason
    if body.reason is not None:
        raise InvalidInput("`reason` goes with `reject` only.", code="reason_not_allowed")
    if approval.kind == "reply" and not approval.draft:
        raise InvalidInput(
            "There is no draft to send (the model failed): use `edit` with your text.",
            code="no_draft",
        )
    return approval.draft, None


async def decide(
    tx: DbConnection,
    *,
    settings: Settings,
    principal: Principal,
    approval_id: UUID,
    body: DecisionRequest,
) -> ApprovalSummary:
    locked = await lock_for_decision(tx, approval_id)
    if locked is None:
        raise _no_such_approval()
    approval = _pending(locked.approval)
    if approval.assignee_id not in (None, principal.subject) and (
        principal.role not in SUPERVISING_ROLES
    ):
        raise Conflict(
            "Another agent has claimed this approval.",
            code="already_claimed",
            extra={"assignee_id": approval.assignee_id},
        )
    content, reason = _checked_decision(settings, approval, body)
    decided = await decide_approval(
        tx,
        approval,
        decision=body.decision,
        actor_id=principal.subject,
        actor_role=str(principal.role),
        final_content=content if approval.kind == "reply" else None,
        reason=reason,
        note=body.note,
    )
    if locked.conversation is not None:
        await _deliver_outcome(
            tx,
            settings=settings,
            approval=decided,
            conversation=locked.conversation,
            # This one was pending when counted, and is decided now.
            others_pending=locked.pending_in_conversation - 1,
            decider=principal.subject,
        )
    if decided.callback_url is not None:
        await enqueue_callback(
            tx, approval_id=decided.id, url=decided.callback_url, payload=callback_payload(decided)
        )
    return summary_view(decided)


async def _deliver_outcome(
    tx: DbConnection,
    *,
    settings: Settings,
    approval: Approval,
    conversation: Conversation,
    others_pending: int,
    decider: str,
) -> None:
    """What the customer sees: the approved (or edited) reply, or a notice that a person will
    answer; and where the (locked) conversation goes next."""
    sends_reply = approval.kind == "reply" and approval.status in ("approved", "edited")
    if sends_reply:
        assert approval.final_content is not None
        await deliver_message(
            tx,
            conversation_id=conversation.id,
            role="assistant",
            content=approval.final_content,
            citations=_citations_still_cited(approval),
            author_id=decider,
            approval_id=approval.id,
        )
    else:
        notice = Notice.ACTION_APPROVED if approval.status == "approved" else Notice.REJECTED
        await deliver_message(
            tx,
            conversation_id=conversation.id,
            role="system",
            content=customer_text(notice, override_dir=settings.customer_texts_dir),
            approval_id=approval.id,
        )
    if conversation.status == "closed":
        return
    if sends_reply:
        # The assistant answers again once nothing else about this conversation waits.
        if conversation.status == "pending_human" and not others_pending:
            await set_conversation_status(tx, conversation, status="ai")
    else:
        await set_conversation_status(tx, conversation, status="human", assignee_id=decider)


def _citations_still_cited(approval: Approval) -> list[Citation]:
    """The draft's citations whose ``[n]`` the sent text still carries (an edit may drop some)."""
    citations = approval.citations()
    text = approval.final_content or ""
    cited = {
        int(number)
        for match in _CITATION_NUMBER.finditer(text)
        for number in re.findall(r"\d+", match.group(0))
    }
    return [c for number, c in enumerate(citations, start=1) if number in cited]


def _request_hash(body: ActionApprovalCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def request_action(
    tx: DbConnection, *, settings: Settings, principal: Principal, body: ActionApprovalCreate
) -> tuple[ApprovalSummary, bool]:
    """An external agent's request; returns the approval and whether it was created now."""
    request_hash = _request_hash(body)
    if body.idempotency_key is not None:
        # Serialises concurrent requests with one key, so exactly one of them creates.
        await tx.execute(
            "select pg_advisory_xact_lock(hashtext($1))",
            f"approval-idempotency:{principal.subject}:{body.idempotency_key}",
        )
        existing = await find_by_idempotency_key(
            tx, requester_id=principal.subject, idempotency_key=body.idempotency_key
        )
        if existing is not None:
            if existing.request_hash != request_hash:
                raise Conflict(
                    "This idempotency_key was used with a different request.",
                    code="idempotency_key_reused",
                    extra={"approval_id": str(existing.id)},
                )
            return summary_view(existing), False
    if body.deadline_seconds is not None and body.deadline_seconds > (
        settings.approval_max_deadline_seconds
    ):
        raise InvalidInput(
            f"deadline_seconds must be at most {settings.approval_max_deadline_seconds}.",
            code="deadline_too_long",
        )
    if body.callback_url is not None:
        validate_callback_url(
            body.callback_url, allowed_hosts=settings.effective_callback_allowed_hosts
        )
    if body.conversation_id is not None and not await queries.conversation_exists(
        tx, body.conversation_id
    ):
        raise InvalidInput("No conversation has this id.", code="unknown_conversation")
    now = datetime.now(UTC)
    deadline_at = (
        now + timedelta(seconds=body.deadline_seconds)
        if body.deadline_seconds is not None
        else approval_deadline(settings, kind="action", reasons=[EXTERNAL_REQUEST_REASON], now=now)
    )
    approval = await create_approval(
        tx,
        kind="action",
        reasons=[EXTERNAL_REQUEST_REASON],
        requester_id=principal.subject,
        requester_role=str(principal.role),
        deadline_at=deadline_at,
        conversation_id=body.conversation_id,
        action=body.action.model_dump(mode="json"),
        summary=body.summary,
        callback_url=body.callback_url,
        idempotency_key=body.idempotency_key,
        request_hash=request_hash,
    )
    return summary_view(approval), True
