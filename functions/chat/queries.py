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
