"""The AI turn with OpenAI (respx): streaming, tools, retries, failures, citations."""

import uuid
from typing import Any

import asyncpg
import httpx
import respx

from tests.chat.conftest import post, start_conversation, stream_turn
from tests.chat.openai_fakes import (
    FakeOpenAI,
    classifier_answer,
    install,
    rate_limited,
    streamed_text,
    streamed_tool_call,
)

FAQ = "택배 언제 와요? 어제 주문했어요"


async def approval_row(sql: asyncpg.Connection, approval_id: str) -> dict[str, Any]:
    row = await sql.fetchrow("select * from approvals where id = $1", uuid.UUID(approval_id))
    assert row is not None
    return dict(row)


async def test_streamed_answer_arrives_as_deltas_then_done(
    openai_api: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    pieces = [
        "택배는 결제 후 ",
        "영업일 기준 1~2일 ",
        "안에 도착해요 [1]. ",
        "주말과 ",
        "공휴일은 제외돼요 [2].",
    ]
    fake = FakeOpenAI(replies=[lambda: streamed_text(pieces)])
    install(respx_mock, fake)
    conversation_id, customer = await start_conversation(openai_api)

    deltas, done = await stream_turn(openai_api, conversation_id, customer, FAQ)

    assert len(deltas) >= 2
    assert "".join(deltas) == done["reply"]["content"] == "".join(pieces)
    assert [c["title"] for c in done["reply"]["citations"]]  # two sources, from this turn
    assert len(done["reply"]["citations"]) == 2
    assert done["approval"] is None
    assert done["handoff"] is None
    (turn,) = fake.turn_bodies
    assert (turn["model"], turn["temperature"], turn["stream"]) == ("gpt-4-turbo", 0.2, True)
    assert "tools" not in turn
    prompt = turn["messages"][-1]["content"]
    for citation in done["reply"]["citations"]:
        assert citation["title"] in prompt
    classifier = next(body for body in fake.bodies if "response_format" in body)
    assert classifier["model"] == "gpt-4o-mini"


async def test_streamed_tool_call_becomes_an_action_approval(
    openai_api: httpx.AsyncClient, respx_mock: respx.MockRouter, chat_sql: asyncpg.Connection
) -> None:
    arguments = {"order_id": "20261120-0001", "reason": "단순 변심"}
    fake = FakeOpenAI(replies=[lambda: streamed_tool_call("cancel_order", arguments)])
    install(respx_mock, fake)
    conversation_id, customer = await start_conversation(openai_api)

    deltas, done = await stream_turn(
        openai_api, conversation_id, customer, "주문 취소해 주세요. 주문번호 20261120-0001"
    )

    assert deltas == []
    assert done["reply"] is None
    assert done["handoff"]["conversation_status"] == "pending_human"
    assert done["handoff"]["notice"]["role"] == "system"
    approval = await approval_row(chat_sql, done["approval"]["id"])
    assert approval["kind"] == "action"
    assert approval["action"] == {"name": "cancel_order", "arguments": arguments}
    assert "tool_call" in approval["reasons"]
    assert "action_requested" in approval["reasons"]
    (turn,) = fake.turn_bodies
    assert "cancel_order" in {tool["function"]["name"] for tool in turn["tools"]}


async def test_rate_limited_then_success_is_retried(
    openai_api: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    fake = FakeOpenAI(replies=[rate_limited, lambda: streamed_text(["배송은 1~2일 걸려요 [1]."])])
    install(respx_mock, fake)
    conversation_id, customer = await start_conversation(openai_api)

    response = await post(openai_api, conversation_id, customer, FAQ)

    assert response.status_code == 201
    assert response.json()["reply"]["content"] == "배송은 1~2일 걸려요 [1]."
    assert len(fake.turn_bodies) == 2


async def test_persistent_timeout_ends_in_fallback_with_approval_and_message_kept(
    openai_api: httpx.AsyncClient, respx_mock: respx.MockRouter, chat_sql: asyncpg.Connection
) -> None:
    def hang() -> httpx.Response:
        raise httpx.ReadTimeout("the model did not answer")

    fake = FakeOpenAI(replies=[hang])
    install(respx_mock, fake)
    conversation_id, customer = await start_conversation(openai_api)

    response = await post(openai_api, conversation_id, customer, FAQ)

    assert response.status_code == 201
    body = response.json()
    assert body["reply"] is None
    assert body["handoff"]["notice"]["content"].startswith("죄송합니다")
    assert body["message"]["content"] == FAQ
    approval = await approval_row(chat_sql, body["approval"]["id"])
    assert "provider_error" in approval["reasons"]
    assert "APITimeoutError" in approval["error"]
    assert len(fake.turn_bodies) == 2  # the first try and OPENAI_MAX_RETRIES=1 retry


async def test_invented_citation_number_is_dropped(
    openai_api: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    reply = "배송은 결제 후 1~2일 걸려요 [2]. 자세한 내용은 [9]를 참고하세요 [1, 7]."
    install(respx_mock, FakeOpenAI(replies=[lambda: streamed_text([reply])]))
    conversation_id, customer = await start_conversation(openai_api)

    body = (await post(openai_api, conversation_id, customer, FAQ)).json()

    content = body["reply"]["content"]
    assert "[9]" not in content
    assert "7]" not in content
    assert content == "배송은 결제 후 1~2일 걸려요 [1]. 자세한 내용은 를 참고하세요 [2]."
    assert len(body["reply"]["citations"]) == 2


async def test_classifier_adds_to_the_rules(
    openai_api: httpx.AsyncClient, respx_mock: respx.MockRouter, chat_sql: asyncpg.Connection
) -> None:
    fake = FakeOpenAI(
        replies=[lambda: streamed_text(["도와드릴게요."])],
        classifier=lambda: classifier_answer(["abuse"]),
    )
    install(respx_mock, fake)
    conversation_id, customer = await start_conversation(openai_api)

    body = (await post(openai_api, conversation_id, customer, FAQ)).json()

    assert body["reply"] is None
    approval = await approval_row(chat_sql, body["approval"]["id"])
    assert approval["reasons"] == ["abuse"]
    assert approval["draft"] == "도와드릴게요."


async def test_a_failing_classifier_leaves_the_rules_in_charge(
    openai_api: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    fake = FakeOpenAI(
        replies=[lambda: streamed_text(["배송은 1~2일 걸려요 [1]."])],
        classifier=lambda: httpx.Response(200, json={"unexpected": True}),
    )
    install(respx_mock, fake)
    conversation_id, customer = await start_conversation(openai_api)

    body = (await post(openai_api, conversation_id, customer, FAQ)).json()

    assert body["reply"]["content"] == "배송은 1~2일 걸려요 [1]."


async def test_personal_data_in_a_draft_holds_it(
    openai_api: httpx.AsyncClient, respx_mock: respx.MockRouter, chat_sql: asyncpg.Connection
) -> None:
    draft = "담당자에게 010-9999-8888 로 연락하시면 빠르게 도와드려요."
    install(respx_mock, FakeOpenAI(replies=[lambda: streamed_text([draft])]))
    conversation_id, customer = await start_conversation(openai_api)

    body = (await post(openai_api, conversation_id, customer, FAQ)).json()

    assert body["reply"] is None
    approval = await approval_row(chat_sql, body["approval"]["id"])
    assert approval["reasons"] == ["personal_data"]
    assert "010-9999-8888" not in approval["draft"]
