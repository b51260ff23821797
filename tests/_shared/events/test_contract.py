"""The published event contract (events.md and its JSON Schemas) against the models."""

import json
import re
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from functions._shared.events.contract import (
    EVENTS_MARKDOWN,
    REGENERATE_COMMAND,
    STREAM_ONLY_TYPES,
    contract_files,
    event_schemas,
    schema_id,
    schema_path,
    stale_schema_files,
)
from functions._shared.events.outbox import InvalidEventError, emit
from functions._shared.events.schemas import (
    APPROVALS_TOPIC,
    EVENT_PAYLOADS,
    ConversationUpdated,
    EventEnvelope,
    EventType,
    MessageCreated,
    MessagePayload,
    StreamOverflow,
    StreamReset,
    conversation_topic,
    is_valid_topic,
)
from functions._shared.events.stream import _control_event
from tests.conftest import REPO_ROOT

_SECTION = re.compile(r"^### `(?P<type>[a-z_.]+)`$")
_FENCE = re.compile(r"^```(?P<language>\w*)$")


def _json_examples_by_type(markdown: str) -> dict[str, list[str]]:
    """The ```json blocks of each event type's section, keyed by the section's type."""
    examples: dict[str, list[str]] = {}
    section: str | None = None
    fence_language: str | None = None  # None outside a fenced block
    block: list[str] = []
    for line in markdown.splitlines():
        fence = _FENCE.match(line)
        if fence_language is None:
            if fence is not None:
                fence_language, block = fence["language"] or "text", []
            elif (heading := _SECTION.match(line)) is not None:
                section = heading["type"]
            elif line.startswith("## "):
                section = None
        elif fence is not None:
            if fence_language == "json" and section is not None:
                examples.setdefault(section, []).append("\n".join(block))
            fence_language = None
        else:
            block.append(line)
    return examples


def _published_examples() -> dict[str, list[str]]:
    return _json_examples_by_type((REPO_ROOT / EVENTS_MARKDOWN).read_text(encoding="utf-8"))


def _check_against_schema(example: dict[str, Any], schema: dict[str, Any]) -> None:
    """What can be checked without a JSON Schema validator: the envelope's shape and type."""
    properties = schema["properties"]
    assert set(example) == set(properties)
    assert set(schema["required"]) <= set(example)
    assert example["type"] == properties["type"]["const"]
    assert properties["data"].get("additionalProperties", True) is False
    assert set(example["data"]) <= set(properties["data"]["properties"])
    assert set(properties["data"].get("required", [])) <= set(example["data"])


async def _outbox_rows(db: asyncpg.Connection) -> int:
    count: int = await db.fetchval("select count(*) from event_outbox")
    return count


def test_published_contract_matches_the_models() -> None:
    for relative, expected in contract_files().items():
        path = REPO_ROOT / relative
        assert path.exists(), f"{relative} is missing: run `{REGENERATE_COMMAND}`"
        assert path.read_text(encoding="utf-8") == expected, (
            f"{relative} disagrees with functions/_shared/events/schemas.py: "
            f"run `{REGENERATE_COMMAND}` and commit the result"
        )


def test_no_schema_file_is_published_for_a_type_that_no_longer_exists() -> None:
    assert stale_schema_files(REPO_ROOT) == [], f"stale schema files: run `{REGENERATE_COMMAND}`"


def test_generator_output_is_deterministic() -> None:
    assert contract_files() == contract_files()


def test_every_event_type_has_a_payload_model() -> None:
    assert set(EVENT_PAYLOADS) == set(EventType)


def test_every_event_type_has_a_published_schema_file() -> None:
    for event_type in EventType:
        path = REPO_ROOT / schema_path(event_type)
        assert path.is_file(), f"{path} is missing: run `{REGENERATE_COMMAND}`"
        published = json.loads(path.read_text(encoding="utf-8"))
        assert published["$id"] == schema_id(event_type)
        assert published["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert published["properties"]["type"]["const"] == event_type.value


def test_schema_data_is_the_payload_models_schema() -> None:
    for type_name, schema in event_schemas().items():
        payload_schema = EVENT_PAYLOADS[EventType(type_name)].model_json_schema()
        payload_defs = payload_schema.pop("$defs", {})

        assert schema["properties"]["data"] == payload_schema
        assert payload_defs.items() <= schema.get("$defs", {}).items()


def test_every_event_type_has_one_json_example_in_events_md() -> None:
    examples = _published_examples()

    assert {name: len(blocks) for name, blocks in examples.items()} == {
        event_type.value: 1 for event_type in EventType
    }


def test_each_envelope_example_in_events_md_parses_with_its_models() -> None:
    examples = _published_examples()
    for event_type in set(EventType) - STREAM_ONLY_TYPES:
        (example,) = examples[event_type.value]
        envelope = EventEnvelope.model_validate_json(example)

        assert envelope.type == event_type
        assert is_valid_topic(envelope.topic)
        EVENT_PAYLOADS[event_type].model_validate_json(json.dumps(envelope.data))


def test_each_control_event_example_in_events_md_parses_with_its_payload_model() -> None:
    examples = _published_examples()
    for event_type in STREAM_ONLY_TYPES:
        (example,) = examples[event_type.value]
        control_event = json.loads(example)

        assert control_event.keys() == {"type", "data"}
        assert control_event["type"] == event_type.value
        EVENT_PAYLOADS[event_type].model_validate_json(json.dumps(control_event["data"]))


def test_control_event_as_the_stream_sends_it_fits_its_schema() -> None:
    sent = _control_event(
        EventType.STREAM_OVERFLOW, StreamOverflow(detail="The stream fell too far behind.")
    ).decode()
    fields = dict(line.split(": ", 1) for line in sent.strip().splitlines())

    assert "id" not in fields
    assert fields["event"] == EventType.STREAM_OVERFLOW.value
    _check_against_schema(json.loads(fields["data"]), event_schemas()["stream.overflow"])


def test_each_example_in_events_md_fits_its_schema() -> None:
    schemas = event_schemas()
    for type_name, (example,) in _published_examples().items():
        _check_against_schema(json.loads(example), schemas[type_name])


async def test_emit_refuses_a_payload_of_another_events_model(db: asyncpg.Connection) -> None:
    before = await _outbox_rows(db)
    conversation_id = uuid4()

    with pytest.raises(InvalidEventError):
        await emit(
            db,
            topic=conversation_topic(conversation_id),
            type=EventType.MESSAGE_CREATED,
            data=ConversationUpdated(conversation_id=conversation_id, status="human"),
        )

    assert await _outbox_rows(db) == before


async def test_emit_refuses_an_unknown_topic(db: asyncpg.Connection) -> None:
    before = await _outbox_rows(db)
    conversation_id = uuid4()

    with pytest.raises(InvalidEventError):
        await emit(
            db,
            topic="agents",
            type=EventType.CONVERSATION_UPDATED,
            data=ConversationUpdated(conversation_id=conversation_id, status="human"),
        )

    assert await _outbox_rows(db) == before


async def test_emit_refuses_a_stream_only_event(db: asyncpg.Connection) -> None:
    before = await _outbox_rows(db)

    with pytest.raises(InvalidEventError):
        await emit(
            db,
            topic=APPROVALS_TOPIC,
            type=EventType.STREAM_RESET,
            data=StreamReset(reason="replay_window_exceeded", detail="too old"),
        )

    assert await _outbox_rows(db) == before


async def test_emit_refuses_a_type_on_a_topic_it_is_not_routed_to(db: Any) -> None:
    conversation_id = uuid4()
    message = MessageCreated(
        conversation_id=conversation_id,
        message=MessagePayload(
            id=uuid4(), role="customer", content="배송 언제 와요?", created_at=datetime.now(UTC)
        ),
    )

    with pytest.raises(InvalidEventError, match="not sent to dashboard"):
        await emit(db, topic="dashboard", type=EventType.MESSAGE_CREATED, data=message)
