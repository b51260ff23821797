"""SQL of the timeouts sweeps (state changes live in functions._shared.hitl)."""

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
