"""Delivering a message to a conversation: stored with its citations, announced by an event.

An assistant message exists only once it is delivered: drafts held for approval live on the
approval, never here.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from functions._shared.db.pool import DbConnection
from functions._shared.events.outbox import emit
from functions._shared.events.schemas import (
    CitationPayload,
    EventType,
    MessageCreated,
    MessagePayload,
    conversation_topic,
)

MessageRole = Literal["customer", "assistant", "agent", "system"]


@dataclass(frozen=True)
class Citation:
    document_id: UUID
    title: str
    chunk_id: UUID
    score: float

    def as_json(self) -> dict[str, Any]:
        return {
            "document_id": str(self.document_id),
            "title": self.title,
            "chunk_id": str(self.chunk_id),
            "score": self.score,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> "Citation":
        """From ``as_json``'s form, as the database keeps it (a draft's, an aggregate's)."""
        return cls(
            document_id=UUID(value["document_id"]),
            title=value["title"],
            chunk_id=UUID(value["chunk_id"]),
            score=value["score"],
        )


@dataclass(frozen=True)
class StoredMessage:
    id: UUID
    conversation_id: UUID
    role: MessageRole
    content: str
    created_at: datetime
    author_id: str | None = None
    approval_id: UUID | None = None
    citations: list[Citation] = field(default_factory=list)


async def deliver_message(
    tx: DbConnection,
    *,
    conversation_id: UUID,
    role: MessageRole,
    content: str,
    citations: list[Citation] | None = None,
    author_id: str | None = None,
    approval_id: UUID | None = None,
    client_message_id: str | None = None,
) -> StoredMessage:
    citations = citations or []
    # The message and its citations in one statement (one round trip in the caller's lock).
    row = await tx.fetchrow(
        """
        with inserted as (
            insert into messages
                (conversation_id, role, content, author_id, approval_id, client_message_id)
            values ($1, $2, $3, $4, $5, $6)
            returning id, created_at
        ), cited as (
            insert into message_citations
                (message_id, ordinal, document_id, chunk_id, title, score)
            select inserted.id, c.ordinal, c.document_id, c.chunk_id, c.title, c.score
            from inserted,
                 unnest($7::uuid[], $8::uuid[], $9::text[], $10::float8[]) with ordinality
                     as c(document_id, chunk_id, title, score, ordinal)
        )
        select id, created_at from inserted
        """,
        conversation_id,
        role,
        content,
        author_id,
        approval_id,
        client_message_id,
        [c.document_id for c in citations],
        [c.chunk_id for c in citations],
        [c.title for c in citations],
        [c.score for c in citations],
    )
    assert row is not None  # an insert always returns its row
    message = StoredMessage(
        id=row["id"],
        conversation_id=conversation_id,
        role=role,
        content=content,
        created_at=row["created_at"],
        author_id=author_id,
        approval_id=approval_id,
        citations=citations,
    )
    await emit(
        tx,
        topic=conversation_topic(conversation_id),
        type=EventType.MESSAGE_CREATED,
        data=MessageCreated(conversation_id=conversation_id, message=message_payload(message)),
    )
    return message


def message_payload(message: StoredMessage) -> MessagePayload:
    return MessagePayload(
        id=message.id,
        role=message.role,
        content=message.content,
        created_at=message.created_at,
        citations=[
            CitationPayload(
                document_id=c.document_id, title=c.title, chunk_id=c.chunk_id, score=c.score
            )
            for c in message.citations
        ],
    )


async def conversation_messages(
    connection: DbConnection, conversation_id: UUID, *, last: int | None = None
) -> list[StoredMessage]:
    """The messages of a conversation in order, with their citations: every one, or only the
    ``last`` few (a turn's history, an approval's context)."""
    rows = await connection.fetch(
        """
        select * from (
            select m.id, m.conversation_id, m.role, m.content, m.created_at, m.author_id,
                   m.approval_id, m.position,
                   coalesce(
                       (select jsonb_agg(jsonb_build_object(
                            'document_id', c.document_id, 'title', c.title,
                            'chunk_id', c.chunk_id, 'score', c.score) order by c.ordinal)
                        from message_citations c where c.message_id = m.id),
                       '[]'::jsonb) as citations
            from messages m
            where m.conversation_id = $1
            order by m.position desc
            limit $2
        ) recent
        order by position
        """,
        conversation_id,
        last,
    )
    messages = []
    for row in rows:
        fields = dict(row)
        del fields["position"]
        citations = [Citation.from_json(c) for c in fields.pop("citations")]
        messages.append(StoredMessage(**fields, citations=citations))
    return messages
