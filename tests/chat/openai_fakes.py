"""OpenAI's Chat Completions HTTP API as respx sees it: streamed chunks, tool calls, the
classifier's structured answer, and a recorder of every request body the app sent."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import respx

OPENAI_BASE = "https://api.openai.com/v1"


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4-turbo",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def streamed_text(pieces: list[str]) -> httpx.Response:
    events = [_chunk({"role": "assistant", "content": ""})]
    events += [_chunk({"content": piece}) for piece in pieces]
    events += [_chunk({}, "stop"), "data: [DONE]\n\n"]
    return httpx.Response(
        200, content="".join(events).encode(), headers={"content-type": "text/event-stream"}
    )


def streamed_tool_call(name: str, arguments: dict[str, Any]) -> httpx.Response:
    encoded = json.dumps(arguments, ensure_ascii=False)
    half = len(encoded) // 2
    call = {"index": 0, "id": "call_1", "type": "function"}
    events = [
        _chunk({"role": "assistant", "content": None}),
        _chunk({"tool_calls": [{**call, "function": {"name": name, "arguments": ""}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": encoded[:half]}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": encoded[half:]}}]}),
        _chunk({}, "tool_calls"),
        "data: [DONE]\n\n",
    ]
    return httpx.Response(
        200, content="".join(events).encode(), headers={"content-type": "text/event-stream"}
    )


def classifier_answer(reasons: list[str] | None = None, uncertain: bool = False) -> httpx.Response:
    content = json.dumps({"reasons": reasons or [], "uncertain": uncertain})
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-classifier",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        },
    )


def rate_limited() -> httpx.Response:
    return httpx.Response(
        429,
        json={"error": {"message": "Rate limit", "type": "requests", "code": "rate_limit"}},
        headers={"retry-after-ms": "10"},
    )


@dataclass
class FakeOpenAI:
    """Answers classifier calls with ``classifier`` and turn calls with ``replies`` in order
    (the last one repeats); keeps every body."""

    replies: list[Callable[[], httpx.Response]]
    classifier: Callable[[], httpx.Response] = classifier_answer
    bodies: list[dict[str, Any]] = field(default_factory=list)
    raw_bodies: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        raw = request.content.decode()
        self.raw_bodies.append(raw)
        body = json.loads(raw)
        self.bodies.append(body)
        if "response_format" in body:
            return self.classifier()
        answer = self.replies[0] if len(self.replies) == 1 else self.replies.pop(0)
        return answer()

    @property
    def turn_bodies(self) -> list[dict[str, Any]]:
        return [body for body in self.bodies if "response_format" not in body]


def install(router: respx.MockRouter, fake: FakeOpenAI) -> respx.Route:
    return router.post(f"{OPENAI_BASE}/chat/completions").mock(side_effect=fake)
