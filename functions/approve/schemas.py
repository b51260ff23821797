"""Request and response models of the approve function."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

ApprovalStatus = Literal["pending", "approved", "edited", "rejected", "expired", "cancelled"]
ApprovalKind = Literal["reply", "action"]


class ProposedAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    arguments: dict[str, Any] = Field(default_factory=dict)


class ActionApprovalCreate(BaseModel):
    """An external AI agent asks a person before acting."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["action"] = "action"
    action: ProposedAction
    summary: str = Field(min_length=1, max_length=2000, description="Shown to the reviewer.")
    conversation_id: UUID | None = None
    deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        description="From 1 s up to APPROVAL_MAX_DEADLINE_SECONDS; default "
        "APPROVAL_DEADLINE_SECONDS.",
    )
    callback_url: str | None = Field(
        default=None,
        max_length=2048,
        description="POSTed a signed JSON body on decision or expiry (see README).",
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Same key and same body: the same approval; same key, other body: 409.",
    )


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Supervisors and admins may assign to someone else; default: the caller.",
    )


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "edit", "reject"]
    content: str | None = Field(
        default=None, max_length=10_000, description="`edit` only: the text to send instead."
    )
    reason: str | None = Field(
        default=None, max_length=100, description="`reject` only: one of APPROVAL_REJECT_REASONS."
    )
    note: str | None = Field(default=None, max_length=2000, description="A free comment.")


class Citation(BaseModel):
    document_id: UUID
    title: str
    chunk_id: UUID
    score: float


class ApprovalSummary(BaseModel):
    id: UUID
    kind: ApprovalKind
    status: ApprovalStatus
    reasons: list[str]
    escalation_level: int
    deadline_at: datetime | None
    assignee_id: str | None
    conversation_id: UUID | None
    summary: str | None
    requester_id: str
    requester_role: str
    created_at: datetime
    updated_at: datetime


class ApprovalPage(BaseModel):
    approvals: list[ApprovalSummary]
    total: int


class AuditEntry(BaseModel):
    at: datetime
    actor_id: str
    actor_role: str
    event: str
    from_status: str | None
    to_status: str
    note: str | None
    data: dict[str, Any]


class CallbackAttempt(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class CallbackDelivery(BaseModel):
    id: UUID
    url: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    attempt_log: list[CallbackAttempt]


class ContextMessage(BaseModel):
    id: UUID
    role: Literal["customer", "assistant", "agent", "system"]
    content: str = Field(description="As stored: customers' personal data is masked.")
    created_at: datetime


class ApprovalDetail(ApprovalSummary):
    draft: str | None
    draft_citations: list[Citation]
    action: dict[str, Any] | None
    error: str | None
    callback_url: str | None
    idempotency_key: str | None
    decision: str | None
    decision_reason: str | None
    decision_note: str | None
    decided_by: str | None
    decided_at: datetime | None
    final_content: str | None
    conversation_status: str | None
    messages: list[ContextMessage] = Field(description="The conversation's recent messages.")
    audit: list[AuditEntry]
    callbacks: list[CallbackDelivery]
