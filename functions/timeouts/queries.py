"""SQL of the timeouts sweeps (state changes live in functions._shared.hitl)."""

from typing import Any
from uuid import UUID

from asyncpg import Record

from functions._shared.db.pool import DbConnection
from functions._shared.hitl.conversations import Conversation


async def claim_idle_conversation(tx: DbConnection, *, idle_seconds: float) -> Conversation | None:
    """The longest-idle open conversation no other sweeper holds, locked. Conversations waiting
    for a person (`pending_human`) are never closed for being idle: the wait is ours."""
    row = await tx.fetchrow(
        """
        select id, status, locale, assignee_id, created_at, closed_at from conversations
        where status in ('ai', 'human')
          and last_activity_at < now() - make_interval(secs => $1)
        order by last_activity_at
        limit 1
        for update skip locked
        """,
        idle_seconds,
    )
    return Conversation(**dict(row)) if row is not None else None


async def delete_old_rate_limit_windows(tx: DbConnection, *, older_than_seconds: int) -> int:
    result: str = await tx.execute(
        "delete from rate_limit_windows where window_start < now() - make_interval(secs => $1)",
        older_than_seconds,
    )
    return int(result.rsplit(maxsplit=1)[-1])


async def claim_unfinished_turn(tx: DbConnection, *, older_than_seconds: float) -> Record | None:
    """The oldest customer message whose AI turn never stored its result (the process stopped
    mid-turn), in a conversation the assistant still answers; locked, skipping held ones."""
    row: Record | None = await tx.fetchrow(
        """
        select m.id, m.conversation_id, m.role, m.content, m.created_at
        from messages m
        join conversations c on c.id = m.conversation_id
        where m.role = 'customer' and m.turn is null and c.status = 'ai'
          and m.created_at < now() - make_interval(secs => $1)
        order by m.created_at
        limit 1
        for update of m skip locked
        """,
        older_than_seconds,
    )
    return row


async def save_turn(tx: DbConnection, *, message_id: UUID, turn: dict[str, Any]) -> None:
    await tx.execute("update messages set turn = $2 where id = $1", message_id, turn)
