"""Event envelope, channel names and the payload of every event type.

These models are the contract: ``contracts/events.md`` and its JSON Schemas are generated from
them, and ``emit`` refuses data that is not the model of its type.
"""

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class EventType(StrEnum):
    MESSAGE_CREATED = "message.created"
    CONVERSATION_UPDATED = "conversation.updated"
    APPROVAL_CREATED = "approval.created"
    APPROVAL_UPDATED = "approval.updated"
    APPROVAL_ESCALATED = "approval.escalated"
    APPROVAL_EXPIRED = "approval.expired"
    DOCUMENT_UPDATED = "document.updated"
    # Sent by the server on a stream itself, never stored in the outbox.
    STREAM_RESET = "stream.reset"
    STREAM_OVERFLOW = "stream.overflow"


APPROVALS_TOPIC = "approvals"
DASHBOARD_TOPIC = "dashboard"
CONVERSATION_TOPIC_PREFIX = "conversation:"
_CONVERSATION_TOPIC = re.compile(
    r"^conversation:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


def conversation_topic(conversation_id: UUID | str) -> str:
    return f"{CONVERSATION_TOPIC_PREFIX}{UUID(str(conversation_id))}"


def is_valid_topic(topic: str) -> bool:
    return topic in (APPROVALS_TOPIC, DASHBOARD_TOPIC) or bool(_CONVERSATION_TOPIC.match(topic))


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CitationPayload(_Payload):
    document_id: UUID
    title: str
    chunk_id: UUID
    score: float


class MessagePayload(_Payload):
    id: UUID
    role: Literal["customer", "assistant", "agent", "system"]
    content: str = Field(
        description="As stored: personal data already masked where policy says so."
    )
    created_at: datetime
    citations: list[CitationPayload] = Field(default_factory=list)


class MessageCreated(_Payload):
    conversation_id: UUID
    message: MessagePayload


class ConversationUpdated(_Payload):
    conversation_id: UUID
    status: Literal["ai", "pending_human", "human", "closed"]
    previous_status: Literal["ai", "pending_human", "human", "closed"] | None = None
    assignee_id: str | None = None


ApprovalStatus = Literal["pending", "approved", "edited", "rejected", "expired", "cancelled"]


class ApprovalChange(_Payload):
    approval_id: UUID
    kind: Literal["reply", "action"]
    status: ApprovalStatus
    previous_status: ApprovalStatus | None = None
    escalation_level: int = Field(ge=0)
    deadline_at: datetime | None
    conversation_id: UUID | None = None
    assignee_id: str | None = None
    reasons: list[str] = Field(default_factory=list)


class DocumentUpdated(_Payload):
    document_id: UUID
    title: str
    status: Literal["queued", "processing", "ready", "failed", "deleted"]
    chunk_count: int = Field(ge=0)
    version: int = Field(ge=0, description="0 until the document is first indexed.")
    error: str | None = None


class StreamReset(_Payload):
    reason: Literal["replay_window_exceeded", "replay_limit_exceeded"]
    detail: str


class StreamOverflow(_Payload):
    detail: str


EVENT_PAYLOADS: dict[EventType, type[_Payload]] = {
    EventType.MESSAGE_CREATED: MessageCreated,
    EventType.CONVERSATION_UPDATED: ConversationUpdated,
    EventType.APPROVAL_CREATED: ApprovalChange,
    EventType.APPROVAL_UPDATED: ApprovalChange,
    EventType.APPROVAL_ESCALATED: ApprovalChange,
    EventType.APPROVAL_EXPIRED: ApprovalChange,
    EventType.DOCUMENT_UPDATED: DocumentUpdated,
    EventType.STREAM_RESET: StreamReset,
    EventType.STREAM_OVERFLOW: StreamOverflow,
}


def topic_kind(topic: str) -> str:
    return "conversation" if topic.startswith(CONVERSATION_TOPIC_PREFIX) else topic


# Where each type may be sent: a dashboard never gets message text, a conversation's customer
# never gets another conversation's events.
EVENT_TOPIC_KINDS: dict[EventType, frozenset[str]] = {
    EventType.MESSAGE_CREATED: frozenset({"conversation"}),
    EventType.CONVERSATION_UPDATED: frozenset({"conversation", DASHBOARD_TOPIC}),
    EventType.APPROVAL_CREATED: frozenset({"conversation", APPROVALS_TOPIC, DASHBOARD_TOPIC}),
    EventType.APPROVAL_UPDATED: frozenset({"conversation", APPROVALS_TOPIC, DASHBOARD_TOPIC}),
    EventType.APPROVAL_ESCALATED: frozenset({"conversation", APPROVALS_TOPIC, DASHBOARD_TOPIC}),
    EventType.APPROVAL_EXPIRED: frozenset({"conversation", APPROVALS_TOPIC, DASHBOARD_TOPIC}),
    EventType.DOCUMENT_UPDATED: frozenset({DASHBOARD_TOPIC}),
}


class EventEnvelope(BaseModel):
    """What every subscriber receives: SSE ``data`` and Supabase broadcast payload alike."""

    id: int = Field(description="Monotonic per database; resume with Last-Event-ID.")
    type: EventType
    topic: str
    occurred_at: datetime
    data: dict[str, Any]
