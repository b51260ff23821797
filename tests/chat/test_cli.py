"""``ccos chat``: the assistant in the terminal."""

import io

from rich.console import Console

from functions._shared.settings import Settings
from gateway.chat_cli import chat_loop


async def test_terminal_chat_shows_reply_citations_and_approvals(chat_settings: Settings) -> None:
    typed = iter(["반품 배송비는 누가 부담하나요?", "상담원 연결해 주세요", "/quit", "never read"])
    output = io.StringIO()

    await chat_loop(
        chat_settings,
        read_line=lambda: next(typed, None),
        console=Console(file=output, width=120, force_terminal=False),
    )

    shown = output.getvalue()
    assert "[안내 자료 발췌]" in shown
    assert "citations" in shown
    assert "approval" in shown
    assert "human_requested" in shown
    assert next(typed) == "never read"
