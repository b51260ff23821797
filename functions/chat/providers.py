"""Language-model providers behind one interface: OpenAI (or any compatible server) and the
offline extractive answerer.

A provider streams ``TextDelta`` and ``ProposedToolCall`` items for one turn and, where it can,
classifies a message. Failures after the SDK's bounded retries surface as ``ProviderError``.
"""

import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import structlog

from functions._shared.kb.korean import keyword_terms
from functions._shared.kb.search import SearchResult
from functions._shared.settings import Settings

logger = structlog.get_logger(__name__)


class ProviderError(Exception):
    """The model could not produce a reply (after retries): the turn goes to a person."""


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ProposedToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class TurnRequest:
    """What one turn sends: the prompt messages (already masked), the tools on offer, and the
    retrieved passages with the question (the offline provider answers from these alone)."""

    messages: list[dict[str, str]]
    question: str
    passages: Sequence[SearchResult]
    tools: Sequence[ToolSpec] = field(default_factory=tuple)


@dataclass(frozen=True)
class Classification:
    reasons: list[str]
    uncertain: bool


ReplyItem = TextDelta | ProposedToolCall


class ChatProvider(Protocol):
    name: str

    def reply(self, request: TurnRequest) -> AsyncIterator[ReplyItem]: ...

    async def classify(self, *, system_prompt: str, text: str) -> Classification | None: ...


class OpenAIProvider:
    """Chat Completions with streaming and tools; the SDK retries 429, 5xx and timeouts."""

    name = "openai"

    def __init__(self, settings: Settings, reason_codes: Sequence[str]) -> None:
        from openai import AsyncOpenAI  # noqa: PLC0415 (the SDK costs import time)

        self._settings = settings
        self._reason_codes = list(reason_codes)
        api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        self._client: AsyncOpenAI = AsyncOpenAI(
            api_key=api_key,
            base_url=settings.openai_base_url,
            timeout=settings.chat_timeout_seconds,
            max_retries=settings.openai_max_retries,
        )

    async def close(self) -> None:
        await self._client.close()

    async def reply(self, request: TurnRequest) -> AsyncIterator[ReplyItem]:
        import openai  # noqa: PLC0415

        settings = self._settings
        options: dict[str, Any] = {}
        if request.tools:
            options["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                }
                for tool in request.tools
            ]
        partial_calls: dict[int, dict[str, str]] = {}
        try:
            stream = await self._client.chat.completions.create(
                model=settings.chat_model,
                messages=request.messages,  # type: ignore[arg-type]
                temperature=settings.chat_temperature,
                top_p=settings.chat_top_p,
                max_tokens=settings.chat_max_tokens,
                stream=True,
                **options,
            )
            async for chunk in stream:  # type: ignore[union-attr]
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                if delta.content:
                    yield TextDelta(delta.content)
                for call in delta.tool_calls or []:
                    slot = partial_calls.setdefault(call.index, {"name": "", "arguments": ""})
                    if call.function is not None:
                        slot["name"] += call.function.name or ""
                        slot["arguments"] += call.function.arguments or ""
        # The SDK wraps errors of the request, not of reading a stream: a connection cut in the
        # middle of the answer surfaces as httpx's own error.
        except (openai.OpenAIError, httpx.HTTPError) as error:
            raise ProviderError(f"{type(error).__name__}: {error}") from error
        for index in sorted(partial_calls):
            call = partial_calls[index]
            yield ProposedToolCall(name=call["name"], arguments=_parse_arguments(call["arguments"]))

    async def classify(self, *, system_prompt: str, text: str) -> Classification | None:
        """GPT-4o mini with a strict JSON schema; None when it fails (the rules still apply)."""
        import openai  # noqa: PLC0415

        settings = self._settings
        schema = {
            "type": "object",
            "additionalProperties": False,
            "required": ["reasons", "uncertain"],
            "properties": {
                "reasons": {
                    "type": "array",
                    "items": {"type": "string", "enum": self._reason_codes},
                },
                "uncertain": {"type": "boolean"},
            },
        }
        try:
            completion = await self._client.chat.completions.create(
                model=settings.chat_classifier_model,
                messages=[
                    {"role": "system", "content": system_prompt},
                    {"role": "user", "content": text},
                ],
                temperature=0,
                max_tokens=settings.chat_classifier_max_tokens,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "routing", "strict": True, "schema": schema},
                },
                timeout=settings.chat_classifier_timeout_seconds,
            )
            content = completion.choices[0].message.content or ""
            parsed = json.loads(content)
            reasons = [r for r in parsed.get("reasons", []) if r in self._reason_codes]
            return Classification(reasons=reasons, uncertain=bool(parsed.get("uncertain")))
        except (openai.OpenAIError, ValueError, TypeError, AttributeError, IndexError) as error:
            logger.warning("chat_classifier_failed", error=f"{type(error).__name__}: {error}")
            return None


def _parse_arguments(raw: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        return {"unparsed_arguments": raw}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+|\n+")
# Markdown that reads badly when quoted: headings, list markers, table pipes and rules.
_MARKDOWN_NOISE = re.compile(r"^\s*(?:#{1,6}\s+|[-*+]\s+|\d+\.\s+|>\s*)|\*\*|`")
_TABLE_RULE = re.compile(r"^\s*\|?[\s:|-]+\|?\s*$")


def _plain_sentences(text: str) -> list[str]:
    sentences = []
    for piece in _SENTENCE_END.split(text):
        if _TABLE_RULE.match(piece):
            continue
        plain = _MARKDOWN_NOISE.sub("", piece)
        plain = " ".join(cell.strip() for cell in plain.strip().strip("|").split("|"))
        if len(plain) >= 8:
            sentences.append(plain)
    return sentences


class OfflineProvider:
    """No model: the best sentences of the best passages, cited, under a label saying so."""

    name = "offline"

    def __init__(self, *, label: str, max_passages: int = 2, sentences_per_passage: int = 2):
        self._label = label
        self._max_passages = max_passages
        self._sentences_per_passage = sentences_per_passage

    async def reply(self, request: TurnRequest) -> AsyncIterator[ReplyItem]:
        yield TextDelta(self._label)
        question_terms = set(keyword_terms(request.question))
        for number, passage in enumerate(request.passages[: self._max_passages], start=1):
            sentences = _plain_sentences(passage.text)
            # The passage's own order among its most question-like sentences reads naturally.
            ranked = sorted(
                range(len(sentences)),
                key=lambda i: -len(question_terms & set(keyword_terms(sentences[i]))),
            )[: self._sentences_per_passage]
            excerpt = " ".join(sentences[i] for i in sorted(ranked))
            if excerpt:
                yield TextDelta(f"\n\n{excerpt} [{number}]")

    async def classify(self, *, system_prompt: str, text: str) -> Classification | None:
        return None
