"""The prompt of a turn, built from Korean templates on disk (``prompts/`` or
``CHAT_PROMPTS_DIR``): system prompt with grounding rules and tone, recent history within a token
budget, then the numbered sources and the question."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template

from functions._shared.hitl.messages import StoredMessage
from functions._shared.kb.search import SearchResult
from functions._shared.settings import Settings
from functions.chat.providers import ToolSpec

BUNDLED_PROMPTS_DIR = Path(__file__).parent / "prompts"
BUNDLED_TOOLS_PATH = Path(__file__).parent / "config" / "tools.json"
_TEMPLATE_NAMES = ("system", "grounding", "tone", "question", "source", "classifier")


@dataclass(frozen=True)
class PromptTemplates:
    system: Template
    grounding: Template
    tone: Template
    question: Template
    source: Template
    classifier: str
    offline_label: str


@cache
def load_prompt_templates(prompts_dir: Path | None) -> PromptTemplates:
    def read(name: str) -> str:
        override = prompts_dir / f"{name}.md" if prompts_dir is not None else None
        path = override if override is not None and override.is_file() else None
        text = (path or BUNDLED_PROMPTS_DIR / f"{name}.md").read_text(encoding="utf-8").strip()
        if not text:
            raise ValueError(f"The prompt template {name}.md is empty")
        return text

    texts = {name: read(name) for name in (*_TEMPLATE_NAMES, "offline_label")}
    return PromptTemplates(
        system=Template(texts["system"]),
        grounding=Template(texts["grounding"]),
        tone=Template(texts["tone"]),
        question=Template(texts["question"]),
        source=Template(texts["source"]),
        classifier=texts["classifier"],
        offline_label=texts["offline_label"],
    )


@dataclass(frozen=True)
class ToolDefinition:
    spec: ToolSpec
    # Routing reasons on which the tool is offered to the model (a turn that shows no such
    # intent gets no tools, so a streamed reply can never turn into an action half-way).
    offer_on: frozenset[str]


@cache
def load_tools(path: Path | None) -> tuple[ToolDefinition, ...]:
    raw = json.loads((path or BUNDLED_TOOLS_PATH).read_text(encoding="utf-8"))
    tools = []
    for entry in raw["tools"]:
        unknown = set(entry) - {"name", "description", "parameters", "offer_on"}
        if unknown:
            raise ValueError(f"Tool {entry.get('name')!r} has unknown keys: {sorted(unknown)}")
        tools.append(
            ToolDefinition(
                spec=ToolSpec(
                    name=entry["name"],
                    description=entry["description"],
                    parameters=entry["parameters"],
                ),
                offer_on=frozenset(entry["offer_on"]),
            )
        )
    return tuple(tools)


def estimated_tokens(text: str) -> int:
    """A conservative estimate without a tokenizer: Korean and other non-ASCII characters count
    about one token each in OpenAI's encodings, ASCII about four characters a token."""
    non_ascii = sum(1 for character in text if ord(character) > 127)
    return non_ascii + (len(text) - non_ascii + 3) // 4


def history_messages(
    history: Sequence[StoredMessage], *, token_budget: int, max_messages: int
) -> list[dict[str, str]]:
    """The most recent customer, assistant and agent messages that fit the budget, oldest
    first. System notices are left out: they are boilerplate the model need not repeat."""
    selected: list[dict[str, str]] = []
    remaining = token_budget
    for message in reversed(history):
        if len(selected) >= max_messages:
            break
        if message.role == "system":
            continue
        content = message.content if message.role != "agent" else f"(상담원) {message.content}"
        cost = estimated_tokens(content)
        if cost > remaining:
            break
        remaining -= cost
        selected.append(
            {"role": "user" if message.role == "customer" else "assistant", "content": content}
        )
    return list(reversed(selected))


def build_prompt(
    *,
    settings: Settings,
    templates: PromptTemplates,
    question: str,
    passages: Sequence[SearchResult],
    history: Sequence[StoredMessage],
) -> list[dict[str, str]]:
    system = templates.system.substitute(
        grounding=templates.grounding.substitute(
            uncertainty_marker=settings.chat_uncertainty_marker
        ),
        tone=templates.tone.substitute(),
    )
    sources = (
        "\n\n".join(
            templates.source.substitute(number=number, title=passage.title, text=passage.text)
            for number, passage in enumerate(passages, start=1)
        )
        or "(없음)"
    )
    return [
        {"role": "system", "content": system},
        *history_messages(
            history,
            token_budget=settings.chat_history_token_budget,
            max_messages=settings.chat_history_max_messages,
        ),
        {
            "role": "user",
            "content": templates.question.substitute(sources=sources, question=question),
        },
    ]
