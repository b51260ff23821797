"""Routing on our labelled Korean set (``data/routing_cases.jsonl``, see ``test_rules.py`` for
how it was written): every must-escalate message is routed to a person, in both providers'
modes (OpenAI with a mocked classifier that finds nothing, so that the rules carry the figure),
and at least 80% of the harmless FAQ questions stay automatic with rules alone — personal data
and grounding on the sample KB count against that figure too. The whole set goes through the
routing step the turn uses; a sample goes through the HTTP API end to end."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from functions._shared.db.pool import DbPool, create_pool
from functions._shared.kb.runtime import build_knowledge_base
from functions._shared.kb.search import SearchResult
from functions._shared.pii import mask_personal_data
from functions._shared.settings import Settings
from functions.chat.service import (
    build_chat_runtime,
    classify_message,
    close_chat_runtime,
    route_turn,
)
from tests.chat.conftest import post, start_conversation
from tests.chat.openai_fakes import OPENAI_BASE, classifier_answer

CASES: list[dict[str, Any]] = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "routing_cases.jsonl").read_text().splitlines()
    if line.strip()
]
MUST_ESCALATE = [case for case in CASES if case["label"] == "must_escalate"]
HARMLESS = [case for case in CASES if case["label"] == "harmless"]


@pytest.fixture
async def chat_pool(chat_settings: Settings) -> AsyncIterator[DbPool]:
    assert chat_settings.database_url is not None
    pool = await create_pool(chat_settings, chat_settings.database_url.get_secret_value())
    yield pool
    await pool.close()


async def routed(
    settings: Settings, pool: DbPool, cases: list[dict[str, Any]]
) -> list[tuple[str, list[str]]]:
    """Each case's text and the reasons the turn's routing step gives it."""
    knowledge_base = build_knowledge_base(settings)
    runtime = build_chat_runtime(settings, knowledge_base)
    outcomes = []
    try:
        for case in cases:
            masked = mask_personal_data(case["text"])
            async with pool.acquire() as connection:
                passages: list[SearchResult] = await knowledge_base.search(
                    connection, query=masked, k=settings.chat_retrieval_k
                )
            reasons = route_turn(
                runtime,
                question=masked,
                had_personal_data=masked != case["text"],
                passages=passages,
                classification=await classify_message(runtime, masked),
            )
            outcomes.append((case["text"], reasons))
    finally:
        await close_chat_runtime(runtime, timeout_seconds=1)
    return outcomes


def test_the_labelled_set_is_big_enough_and_half_must_escalate() -> None:
    assert len(CASES) >= 60
    assert abs(len(MUST_ESCALATE) - len(HARMLESS)) <= len(CASES) * 0.1


async def test_every_must_escalate_message_goes_to_a_person_with_rules_alone(
    chat_settings: Settings, chat_pool: DbPool
) -> None:
    outcomes = await routed(chat_settings, chat_pool, MUST_ESCALATE)

    assert [text for text, reasons in outcomes if not reasons] == []


async def test_every_must_escalate_message_goes_to_a_person_with_openai(
    openai_settings: Settings, chat_pool: DbPool, respx_mock: respx.MockRouter
) -> None:
    classifier = respx_mock.post(f"{OPENAI_BASE}/chat/completions").mock(
        side_effect=lambda request: classifier_answer([])
    )

    outcomes = await routed(openai_settings, chat_pool, MUST_ESCALATE)

    assert classifier.call_count == len(MUST_ESCALATE)
    assert [text for text, reasons in outcomes if not reasons] == []


async def test_most_harmless_questions_stay_automatic_with_rules_alone(
    chat_settings: Settings, chat_pool: DbPool
) -> None:
    outcomes = await routed(chat_settings, chat_pool, HARMLESS)

    held = [(text, reasons) for text, reasons in outcomes if reasons]
    automatic = 1 - len(held) / len(HARMLESS)
    assert automatic >= 0.8, f"{automatic:.3f} automatic; held: {held}"


async def test_a_sample_routes_the_same_way_through_the_api(chat_api: httpx.AsyncClient) -> None:
    sample = MUST_ESCALATE[::20]
    for case in sample:
        conversation_id, customer = await start_conversation(chat_api)
        body = (await post(chat_api, conversation_id, customer, case["text"])).json()
        assert body["approval"] is not None, case["text"]
        assert body["handoff"]["notice"]["role"] == "system"
