"""Conversation state: ``ai → pending_human → human → closed`` (any state → ``closed``)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from functions._shared.db.pool import DbConnection
from functions._shared.events.outbox import (
    NOTIFY_SQL,
    event_rows,
    insert_events_sql,
    take_batched_events,
)
from functions._shared.events.schemas import (
    DASHBOARD_TOPIC,
    ConversationUpdated,
    EventType,
    conversation_topic,
)

ConversationStatus = Literal["ai", "pending_human", "human", "closed"]


@dataclass(frozen=True)
class Conversation:
    id: UUID
    status: ConversationStatus
    locale: str
    assignee_id: str | None
    created_at: datetime
    closed_at: datetime | None


_COLUMNS = "id, status, locale, assignee_id, created_at, closed_at"


async def lock_conversation(tx: DbConnection, conversation_id: UUID) -> Conversation | None:
    """The conversation, locked until the transaction ends (state changes are serialised)."""
    row = await tx.fetchrow(
        f"select {_COLUMNS} from conversations where id = $1 for update", conversation_id
    )
    return Conversation(**dict(row)) if row is not None else None


async def set_conversation_status(
    tx: DbConnection,
    conversation: Conversation,
    *,
    status: ConversationStatus,
    assignee_id: str | None = None,
) -> Conversation:
    """Change the status (and the assignee, when given) of a locked conversation; emits
    ``conversation.updated`` when anything changed."""
    new_assignee = assignee_id if assignee_id is not None else conversation.assignee_id
    if status == conversation.status and new_assignee == conversation.assignee_id:
        return conversation
    change = ConversationUpdated(
        conversation_id=conversation.id,
        status=status,
        previous_status=conversation.status,
        assignee_id=new_assignee,
    )
    # Known before the update (the caller holds the lock): the statement writes this event
    # and those batched before it, instead of the commit writing them in a round trip more.
    events = take_batched_events(tx) + event_rows(
        [conversation_topic(conversation.id), DASHBOARD_TOPIC],
        EventType.CONVERSATION_UPDATED,
        change,
    )
    row = await tx.fetchrow(
        f"""
        with updated as (
            update conversations
            set status = $2, assignee_id = $3, updated_at = now(),
                closed_at = case when $2 = 'closed' then now() else null end
            where id = $1
            returning {_COLUMNS}
        ), announced as ({insert_events_sql("$4")})
        select {_COLUMNS} from updated, {NOTIFY_SQL}
        """,
        conversation.id,
        status,
        new_assignee,
        events,
    )
    assert row is not None  # the caller holds the row's lock
    return Conversation(**dict(row))


async def record_activity(tx: DbConnection, conversation_id: UUID) -> None:
    await tx.execute(
        "update conversations set last_activity_at = now() where id = $1", conversation_id
    )
