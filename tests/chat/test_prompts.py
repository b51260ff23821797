"""Prompt building: templates on disk (overridable), history within its token budget."""

import uuid
from datetime import UTC, datetime
from pathlib import Path

from functions._shared.hitl.messages import StoredMessage
from functions._shared.settings import Settings
from functions.chat.prompts import (
    build_prompt,
    estimated_tokens,
    history_messages,
    load_prompt_templates,
    load_tools,
)


def message(role: str, content: str) -> StoredMessage:
    return StoredMessage(
        id=uuid.uuid4(),
        conversation_id=uuid.uuid4(),
        role=role,  # type: ignore[arg-type]
        content=content,
        created_at=datetime.now(UTC),
    )


def test_korean_counts_about_a_token_a_character() -> None:
    assert estimated_tokens("배송 문의") == 4 + 1
    assert estimated_tokens("shipping") == 2


def test_history_keeps_the_most_recent_messages_within_the_budget() -> None:
    history = [
        message("customer", "가" * 50),
        message("assistant", "나" * 50),
        message("customer", "다" * 50),
    ]

    kept = history_messages(history, token_budget=120, max_messages=10)

    assert [m["content"][0] for m in kept] == ["나", "다"]
    assert [m["role"] for m in kept] == ["assistant", "user"]


def test_history_leaves_out_system_notices_and_marks_agents() -> None:
    history = [message("system", "상담원이 확인할게요"), message("agent", "안녕하세요")]

    kept = history_messages(history, token_budget=1000, max_messages=10)

    assert kept == [{"role": "assistant", "content": "(상담원) 안녕하세요"}]


def test_prompt_numbers_the_sources_and_states_the_marker(settings: Settings) -> None:
    templates = load_prompt_templates(None)

    class Passage:
        title = "배송 기간 안내"
        text = "결제 후 1~2일 안에 출고됩니다."

    prompt = build_prompt(
        settings=settings,
        templates=templates,
        question="택배 언제 와요?",
        passages=[Passage(), Passage()],  # type: ignore[list-item]
        history=[],
    )

    assert prompt[0]["role"] == "system"
    assert settings.chat_uncertainty_marker in prompt[0]["content"]
    assert "[1] 배송 기간 안내" in prompt[-1]["content"]
    assert "[2] 배송 기간 안내" in prompt[-1]["content"]
    assert prompt[-1]["content"].rstrip().endswith("택배 언제 와요?")


def test_an_operator_overrides_one_template_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "tone.md").write_text("## 말투\n- 반말로 짧게.", encoding="utf-8")

    templates = load_prompt_templates(tmp_path)

    assert templates.tone.template == "## 말투\n- 반말로 짧게."
    assert templates.grounding.template == load_prompt_templates(None).grounding.template


def test_bundled_tools_each_have_a_schema_and_reasons_to_be_offered() -> None:
    tools = load_tools(None)

    assert {tool.spec.name for tool in tools} >= {"request_refund", "cancel_order"}
    for tool in tools:
        assert tool.spec.parameters["type"] == "object"
        assert tool.offer_on


async def test_the_chat_function_runs_standalone(chat_settings: Settings) -> None:
    from functions.chat.standalone import create_app  # noqa: PLC0415
    from tests.conftest import running_client  # noqa: PLC0415

    async with running_client(create_app(chat_settings)) as api:
        started = (await api.post("/chat/conversations", json={})).json()
        response = await api.post(
            f"/chat/conversations/{started['id']}/messages",
            json={"content": "배송비는 얼마예요?"},
            headers={"Authorization": f"Bearer {started['token']}"},
        )

    assert response.status_code == 201
    assert response.json()["reply"]["citations"]
