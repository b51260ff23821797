"""Approve tests run over the real gateway on the chat tests' database (sample KB loaded), so a
chat turn can open the approval that an agent then decides."""

import uuid
from collections.abc import Callable
from typing import Any

import httpx

# The chat tests' fixtures, shared: imported names in a conftest are fixtures here too.
from tests.chat.conftest import (
    chat_api,  # noqa: F401
    chat_database_url,  # noqa: F401
    chat_settings,  # noqa: F401
    chat_sql,  # noqa: F401
    post,
    staff,  # noqa: F401
    start_conversation,
)


async def held_turn(
    api: httpx.AsyncClient, content: str = "불량품이에요 환불해 주세요"
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A customer's turn held for approval: (conversation id, customer headers, turn result)."""
    conversation_id, customer = await start_conversation(api)
    response = await post(api, conversation_id, customer, content)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    assert result["approval"] is not None, result
    return conversation_id, customer, result


def action_request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "action",
        "action": {"name": "issue_refund", "arguments": {"order_id": "A-1", "amount": 12000}},
        "summary": "주문 A-1 환불 12,000원",
        "idempotency_key": uuid.uuid4().hex,
    }
    body.update(overrides)
    return body


StaffHeaders = Callable[[str], dict[str, str]]
