"""The AI turn with the offline provider (the default without an OpenAI key)."""

import uuid

import asyncpg
import httpx

from tests.chat.conftest import post, start_conversation, stream_turn


async def test_offline_answer_is_a_labelled_cited_excerpt(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection
) -> None:
    conversation_id, customer = await start_conversation(chat_api)

    body = (
        await post(chat_api, conversation_id, customer, "반품 배송비는 누가 부담하나요?")
    ).json()

    reply = body["reply"]
    assert reply["content"].startswith("[안내 자료 발췌]")
    assert reply["citations"]
    for number, citation in enumerate(reply["citations"], start=1):
        assert f"[{number}]" in reply["content"]
        chunk = await chat_sql.fetchrow(
            "select document_id from kb_chunks where id = $1", uuid.UUID(citation["chunk_id"])
        )
        assert chunk is not None
        assert str(chunk["document_id"]) == citation["document_id"]
    titles = " ".join(citation["title"] for citation in reply["citations"])
    assert "반품" in titles


async def test_offline_answer_streams_as_deltas_then_done(chat_api: httpx.AsyncClient) -> None:
    conversation_id, customer = await start_conversation(chat_api)

    deltas, done = await stream_turn(
        chat_api, conversation_id, customer, "적립금 유효기간이 어떻게 되나요?"
    )

    assert len(deltas) >= 2
    assert "".join(deltas) == done["reply"]["content"]


async def test_question_the_kb_cannot_answer_goes_to_a_person_with_a_notice(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection
) -> None:
    conversation_id, customer = await start_conversation(chat_api)

    body = (
        await post(chat_api, conversation_id, customer, "김치찌개 맛있게 끓이는 법 알려줘")
    ).json()

    assert body["reply"] is None
    assert "정확히 답변드리기 어려워요" in body["handoff"]["notice"]["content"]
    reasons = await chat_sql.fetchval(
        "select reasons from approvals where id = $1", uuid.UUID(body["approval"]["id"])
    )
    assert reasons == ["low_grounding"]


async def test_customer_message_while_a_person_is_pending_gets_no_ai_turn(
    chat_api: httpx.AsyncClient,
) -> None:
    conversation_id, customer = await start_conversation(chat_api)
    await post(chat_api, conversation_id, customer, "상담원 연결해 주세요")

    body = (await post(chat_api, conversation_id, customer, "아직인가요?")).json()

    assert body["reply"] is None
    assert body["approval"] is None
    assert body["handoff"] == {"conversation_status": "pending_human", "notice": None}


async def test_turn_events_reach_the_conversation_topic_in_order(
    chat_api: httpx.AsyncClient, chat_sql: asyncpg.Connection
) -> None:
    conversation_id, customer = await start_conversation(chat_api)

    body = (await post(chat_api, conversation_id, customer, "배송 조회는 어디서 하나요?")).json()

    rows = await chat_sql.fetch(
        "select type, data from event_outbox where topic = $1 order by id",
        f"conversation:{conversation_id}",
    )
    assert [row["type"] for row in rows] == [
        "conversation.updated",
        "message.created",
        "message.created",
    ]
    assert rows[1]["data"]["message"]["id"] == body["message"]["id"]
    assert rows[2]["data"]["message"]["id"] == body["reply"]["id"]
    assert rows[2]["data"]["message"]["citations"]
