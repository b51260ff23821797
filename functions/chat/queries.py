"""SQL of the chat function (shared state changes live in functions._shared.hitl)."""

from typing import Any
from uuid import UUID

from functions._shared.db.pool import DbConnection, DbPool


async def insert_conversation(
    tx: DbConnection, *, locale: str, customer_name: str | None, customer_external_id: str | None
) -> UUID:
    conversation_id: UUID = await tx.fetchval(
        "insert into conversations (locale, customer_name, customer_external_id)"
        " values ($1, $2, $3) returning id",
        locale,
        customer_name,
        customer_external_id,
    )
    return conversation_id


async def posted_turn(
    connection: DbConnection | DbPool, *, conversation_id: UUID, client_message_id: str
) -> tuple[bool, dict[str, Any] | None]:
    """Whether a message with this client id exists, and its stored turn result (None while
    the first post's turn is still running)."""
    row = await connection.fetchrow(
        "select turn from messages where conversation_id = $1 and client_message_id = $2",
        conversation_id,
        client_message_id,
    )
    if row is None:
        return False, None
    turn: dict[str, Any] | None = row["turn"]
    return True, turn


async def save_turn(tx: DbConnection, *, message_id: UUID, turn: dict[str, Any]) -> None:
    await tx.execute("update messages set turn = $2 where id = $1", message_id, turn)


async def tokens_spent_today(database: DbConnection | DbPool, *, conversation_id: UUID) -> int:
    spent: int | None = await database.fetchval(
        "select tokens from llm_usage"
        " where conversation_id = $1 and day = (now() at time zone 'utc')::date",
        conversation_id,
    )
    return spent or 0


async def add_tokens_spent(tx: DbConnection, *, conversation_id: UUID, tokens: int) -> None:
    await tx.execute(
        """
        insert into llm_usage (conversation_id, day, tokens)
        values ($1, (now() at time zone 'utc')::date, $2)
        on conflict (conversation_id, day) do update set tokens = llm_usage.tokens + $2
        """,
        conversation_id,
        tokens,
    )
