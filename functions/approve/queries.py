"""SQL of the approve function (state changes live in functions._shared.hitl)."""

from typing import Any
from uuid import UUID

import asyncpg

from functions._shared.db.pool import DbConnection

_SUMMARY_COLUMNS = (
    "id, kind, status, reasons, escalation_level, deadline_at, assignee_id, conversation_id,"
    " summary, requester_id, requester_role, created_at, updated_at"
)


async def list_approvals(
    connection: DbConnection,
    *,
    status: str | None,
    kind: str | None,
    assignee_id: str | None,
    escalation_level: int | None,
    limit: int,
    offset: int,
) -> tuple[list[asyncpg.Record], int]:
    """The queue: nearest deadline first (none last), then oldest."""
    rows = await connection.fetch(
        f"""
        select {_SUMMARY_COLUMNS}
        from approvals
        where ($1::text is null or status = $1)
          and ($2::text is null or kind = $2)
          and ($3::text is null or assignee_id = $3)
          and ($4::int is null or escalation_level = $4)
        order by deadline_at asc nulls last, created_at asc, id
        limit $5 offset $6
        """,
        status,
        kind,
        assignee_id,
        escalation_level,
        limit,
        offset,
    )
    # A separate count: a window count over the page's query would read every matching row
    # and sort them all (21 ms at 10k pending, against 0.4 ms for the page from its index).
    total = await _count(
        connection,
        status=status,
        kind=kind,
        assignee_id=assignee_id,
        escalation_level=escalation_level,
    )
    return list(rows), total


async def _count(
    connection: DbConnection,
    *,
    status: str | None,
    kind: str | None,
    assignee_id: str | None,
    escalation_level: int | None,
) -> int:
    total: int = await connection.fetchval(
        """
        select count(*) from approvals
        where ($1::text is null or status = $1)
          and ($2::text is null or kind = $2)
          and ($3::text is null or assignee_id = $3)
          and ($4::int is null or escalation_level = $4)
        """,
        status,
        kind,
        assignee_id,
        escalation_level,
    )
    return total


async def conversation_status(connection: DbConnection, conversation_id: UUID) -> str | None:
    status: str | None = await connection.fetchval(
        "select status from conversations where id = $1", conversation_id
    )
    return status


async def audit_entries(connection: DbConnection, approval_id: UUID) -> list[asyncpg.Record]:
    rows = await connection.fetch(
        "select at, actor_id, actor_role, event, from_status, to_status, note, data"
        " from approval_audit where approval_id = $1 order by id",
        approval_id,
    )
    return list(rows)


async def callback_deliveries(connection: DbConnection, approval_id: UUID) -> list[dict[str, Any]]:
    rows = await connection.fetch(
        """
        select d.id, d.url, d.status, d.attempts, d.next_attempt_at, d.delivered_at,
               d.last_status_code, d.last_error,
               coalesce(
                   (select jsonb_agg(jsonb_build_object(
                        'attempted_at', a.attempted_at, 'status_code', a.status_code,
                        'error', a.error, 'duration_ms', a.duration_ms) order by a.id)
                    from callback_attempts a where a.delivery_id = d.id),
                   '[]'::jsonb) as attempt_log
        from callback_deliveries d
        where d.approval_id = $1
        order by d.created_at
        """,
        approval_id,
    )
    return [dict(row) for row in rows]


async def conversation_exists(connection: DbConnection, conversation_id: UUID) -> bool:
    exists: bool = await connection.fetchval(
        "select exists (select 1 from conversations where id = $1)", conversation_id
    )
    return exists
