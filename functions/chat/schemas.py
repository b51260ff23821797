"""Request and response models of the chat function."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

ConversationStatus = Literal["ai", "pending_human", "human", "closed"]


class CustomerInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    external_id: str | None = Field(default=None, max_length=200)


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: CustomerInfo | None = None
    locale: Literal["ko"] = "ko"


class ConversationStarted(BaseModel):
    id: UUID
    token: str = Field(description="A customer token valid for this conversation only.")
    status: ConversationStatus


class MessagePost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The length limit is CHAT_MAX_MESSAGE_CHARS, checked by the service; this bound only keeps
    # absurd bodies from being parsed further.
    content: str = Field(max_length=100_000)
    client_message_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes the post idempotent: the same id again returns the first result.",
    )


class Citation(BaseModel):
    document_id: UUID
    title: str
    chunk_id: UUID
    score: float


class Message(BaseModel):
    id: UUID
    role: Literal["customer", "assistant", "agent", "system"]
    content: str = Field(description="As stored: customers' personal data is masked.")
    created_at: datetime
    citations: list[Citation] = Field(default_factory=list)


class ApprovalRef(BaseModel):
    id: UUID
    status: Literal["pending", "approved", "edited", "rejected", "expired", "cancelled"]
    deadline_at: datetime | None


class Handoff(BaseModel):
    conversation_status: ConversationStatus
    notice: Message | None = Field(
        description="The Korean message telling the customer a person will follow up "
        "(null when the conversation was already with a person)."
    )


class TurnResult(BaseModel):
    message: Message = Field(description="The posted message, as stored.")
    reply: Message | None = Field(description="The assistant's reply, when one was sent.")
    approval: ApprovalRef | None = Field(description="The approval this turn opened, if any.")
    handoff: Handoff | None = Field(description="Set when a person takes over from here.")


class ConversationView(BaseModel):
    id: UUID
    status: ConversationStatus
    locale: str
    assignee_id: str | None
    created_at: datetime
    closed_at: datetime | None
    messages: list[Message]
