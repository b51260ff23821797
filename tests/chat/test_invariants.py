"""Invariants of the turn: a held draft never reaches the customer (message, stream or event),
the customer is always told when a person takes over, and no personal data reaches OpenAI or
the logs."""

import json
import uuid
from collections.abc import Callable

import asyncpg
import httpx
import pytest
import respx

from tests._shared.pii_cases import PERSONAL_DATA_CASES
from tests.chat.conftest import post, start_conversation, stream_turn
from tests.chat.openai_fakes import (
    FakeOpenAI,
    classifier_answer,
    install,
    streamed_text,
    streamed_tool_call,
)

SECRET = "승인대기초안문구"  # appears only in drafts the model writes here
FAQ = "택배 언제 와요? 어제 주문했어요"


def draft_reply() -> httpx.Response:
    return streamed_text([f"{SECRET} 첫 문장이 충분히 길게 이어집니다. ", f"{SECRET} 두 번째 [1]."])


def uncertain_reply() -> httpx.Response:
    return streamed_text(["[[확인 필요]] ", f"{SECRET} 자료에 없는 내용이에요. ", "더 이어서..."])


def draft_with_phone() -> httpx.Response:
    return streamed_text([f"{SECRET} 연락처 010-5555-1234 로 전화 주세요. ", "감사합니다."])


def tool_call_with_text() -> httpx.Response:
    return streamed_tool_call("request_refund", {"order_id": "1", "reason": SECRET})


def failing() -> httpx.Response:
    raise httpx.ConnectError("connection refused")


HELD_TURNS: list[tuple[str, str, Callable[[], httpx.Response], list[str]]] = [
    ("sensitive_intent", "환불해 주세요 너무 화가 나요", draft_reply, []),
    ("model_uncertain", FAQ, uncertain_reply, []),
    ("personal_data_in_draft", FAQ, draft_with_phone, []),
    ("tool_call", "주문 취소해 주세요", tool_call_with_text, []),
    ("classifier", FAQ, draft_reply, ["legal_threat"]),
    ("provider_error", FAQ, failing, []),
]


async def customer_visible_text(
    api: httpx.AsyncClient, sql: asyncpg.Connection, conversation_id: str, headers: dict[str, str]
) -> str:
    conversation = await api.get(f"/chat/conversations/{conversation_id}", headers=headers)
    events = await sql.fetch(
        "select data::text from event_outbox where topic = $1", f"conversation:{conversation_id}"
    )
    return conversation.text + "".join(row[0] for row in events)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize(
    ("case", "content", "reply", "classified"), HELD_TURNS, ids=[turn[0] for turn in HELD_TURNS]
)
async def test_held_draft_never_reaches_the_customer_who_is_told_a_person_follows_up(
    openai_api: httpx.AsyncClient,
    respx_mock: respx.MockRouter,
    chat_sql: asyncpg.Connection,
    case: str,
    content: str,
    reply: Callable[[], httpx.Response],
    classified: list[str],
    stream: bool,
) -> None:
    install(
        respx_mock,
        FakeOpenAI(replies=[reply], classifier=lambda: classifier_answer(classified)),
    )
    conversation_id, customer = await start_conversation(openai_api)

    if stream:
        deltas, done = await stream_turn(openai_api, conversation_id, customer, content)
        shown = "".join(deltas) + str(done)
    else:
        response = await post(openai_api, conversation_id, customer, content)
        done = response.json()
        shown = response.text

    assert SECRET not in shown
    assert SECRET not in await customer_visible_text(
        openai_api, chat_sql, conversation_id, customer
    )
    assert done["reply"] is None
    notice = done["handoff"]["notice"]
    assert notice["role"] == "system"
    assert notice["content"]
    approval_id = done["approval"]["id"]
    linked = await chat_sql.fetchval(
        "select count(*) from messages where approval_id = $1 and role = 'system'",
        uuid.UUID(approval_id),
    )
    assert linked == 1
    if case not in ("provider_error", "tool_call"):
        draft = await chat_sql.fetchval(
            "select draft from approvals where id = $1", uuid.UUID(approval_id)
        )
        assert SECRET in draft


def decoded(line: str) -> str:
    try:
        return json.dumps(json.loads(line), ensure_ascii=False)
    except ValueError:
        return line


async def test_no_personal_data_reaches_openai_or_the_logs(
    openai_api: httpx.AsyncClient,
    respx_mock: respx.MockRouter,
    capfd: pytest.CaptureFixture[str],
) -> None:
    fake = FakeOpenAI(replies=[lambda: streamed_text(["확인 후 도와드릴게요."])])
    install(respx_mock, fake)

    for text, _kind, _raw in PERSONAL_DATA_CASES:
        conversation_id, customer = await start_conversation(openai_api)
        response = await post(openai_api, conversation_id, customer, f"{text} 배송 문의드려요")
        assert response.status_code == 201

    # Decoded, so that escaped non-ASCII (full-width digits) is compared as written.
    sent = json.dumps(fake.bodies, ensure_ascii=False)
    logs = "\n".join(decoded(line) for line in capfd.readouterr().err.splitlines())
    assert len(fake.turn_bodies) == len(PERSONAL_DATA_CASES)
    for _text, kind, raw in PERSONAL_DATA_CASES:
        assert raw not in sent, (kind, raw)
        assert raw not in logs, (kind, raw)
