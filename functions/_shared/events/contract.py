"""The published event contract, generated from the models in ``schemas.py``.

``python -m functions._shared.events.contract`` writes ``contracts/events.md`` and one JSON
Schema per event type under ``contracts/events/``; a test fails when those files and the models
disagree. Output is deterministic: the same models give the same bytes.
"""

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from functions._shared.events.outbox import _STREAM_ONLY_TYPES
from functions._shared.events.schemas import (
    _CONVERSATION_TOPIC,
    APPROVALS_TOPIC,
    DASHBOARD_TOPIC,
    EVENT_PAYLOADS,
    ApprovalChange,
    CitationPayload,
    ConversationUpdated,
    DocumentUpdated,
    EventEnvelope,
    EventType,
    MessageCreated,
    MessagePayload,
    StreamOverflow,
    StreamReset,
    _Payload,
    conversation_topic,
)
from functions._shared.settings import Settings

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
CONTRACTS_DIR = Path(".specify/specs/001-contact-center-mvp/contracts")
EVENTS_MARKDOWN = CONTRACTS_DIR / "events.md"
SCHEMAS_DIR = CONTRACTS_DIR / "events"
SCHEMA_SUFFIX = ".schema.json"
REGENERATE_COMMAND = "python -m functions._shared.events.contract"

_REPO_ROOT = Path(__file__).resolve().parents[3]
_CONVERSATION = "conversation:{id}"
# Control events of one SSE stream: never in the outbox, never broadcast, and not an envelope.
STREAM_ONLY_TYPES = _STREAM_ONLY_TYPES


def schema_id(event_type: EventType) -> str:
    return f"urn:ccos:event:{event_type.value}"


def schema_path(event_type: EventType) -> Path:
    return SCHEMAS_DIR / f"{event_type.value}{SCHEMA_SUFFIX}"


@dataclass(frozen=True)
class Producer:
    what: str
    issue: int | None  # the issue that adds this producer; None once it exists


@dataclass(frozen=True)
class EventDoc:
    when: str
    topics: tuple[str, ...]
    producers: tuple[Producer, ...]
    notes: str = ""


_APPROVAL_TOPICS = (
    f"`{APPROVALS_TOPIC}`",
    f"`{DASHBOARD_TOPIC}`",
    f"`{_CONVERSATION}`, for `reply` approvals only (never with draft content: the customer "
    "learns that a person is reviewing, not what the assistant drafted)",
)
_STREAM_TOPICS = ("none: sent on the one SSE stream it concerns",)
_SSE_STREAM = Producer("the SSE stream of `GET /events/{topic}` (`functions/_shared/events`)", None)
_CONTROL_EVENT_NOTE = (
    "A control event, not an envelope: it has no `id`, `topic` or `occurred_at`, and its SSE "
    "message has no `id:` line, so it never moves the client's `Last-Event-ID`. Never stored "
    "in the outbox and never broadcast through Supabase."
)

EVENT_DOCS: dict[EventType, EventDoc] = {
    EventType.MESSAGE_CREATED: EventDoc(
        when="A message was stored and sent. An assistant message exists only once it has been "
        "sent to the customer, so a draft held for approval never appears here.",
        topics=(f"`{_CONVERSATION}`",),
        producers=(
            Producer("chat: the customer's message, the assistant's reply, an agent's message", 5),
            Producer("approve: an approved or edited reply delivered to the customer", 6),
            Producer("timeouts: the message telling the customer an approval has expired", 7),
        ),
    ),
    EventType.CONVERSATION_UPDATED: EventDoc(
        when="A conversation's status or assignee changed.",
        topics=(f"`{_CONVERSATION}`", f"`{DASHBOARD_TOPIC}`"),
        producers=(
            Producer("chat: a turn goes to a human (`pending_human`), an agent takes over", 5),
            Producer("approve: a claim or decision that changes status or assignee", 6),
            Producer("timeouts: an idle conversation is closed, an approval expires", 7),
        ),
    ),
    EventType.APPROVAL_CREATED: EventDoc(
        when="An approval was opened (status `pending`).",
        topics=_APPROVAL_TOPICS,
        producers=(
            Producer("chat: a reply draft or a side-effecting tool call is held", 5),
            Producer("approve: an external AI agent asks (`POST /approve/approvals`)", 6),
        ),
    ),
    EventType.APPROVAL_UPDATED: EventDoc(
        when="An approval was claimed (assignee), decided (`approved`, `edited`, `rejected`) "
        "or cancelled.",
        topics=_APPROVAL_TOPICS,
        producers=(Producer("approve: claim, decision, cancellation", 6),),
    ),
    EventType.APPROVAL_ESCALATED: EventDoc(
        when="A deadline was missed and a further level remains: `escalation_level` rose and "
        "`deadline_at` is the new deadline.",
        topics=_APPROVAL_TOPICS,
        producers=(Producer("timeouts: the approval deadline sweep", 7),),
    ),
    EventType.APPROVAL_EXPIRED: EventDoc(
        when="The last deadline was missed: the approval is `expired` and is resolved safely "
        "(the customer is told; no side effect runs).",
        topics=_APPROVAL_TOPICS,
        producers=(Producer("timeouts: the approval deadline sweep", 7),),
    ),
    EventType.DOCUMENT_UPDATED: EventDoc(
        when="A KB document's status changed: `queued`, `processing`, `ready`, `failed`, or "
        "`deleted`; reprocessing starts the cycle again with a new `version`.",
        topics=(f"`{DASHBOARD_TOPIC}`",),
        producers=(Producer("embed: ingestion, reprocessing, deletion", 4),),
    ),
    EventType.STREAM_RESET: EventDoc(
        when="Sent first, instead of a replay, on a stream whose `Last-Event-ID` cannot be "
        "replayed: events after it were removed by retention (`replay_window_exceeded`), or "
        "more of them were missed than the replay limit (`replay_limit_exceeded`). The client "
        "must refetch the state it shows over the REST API; the stream then continues live.",
        topics=_STREAM_TOPICS,
        producers=(_SSE_STREAM,),
        notes=_CONTROL_EVENT_NOTE,
    ),
    EventType.STREAM_OVERFLOW: EventDoc(
        when="The client read too slowly and its bounded queue filled: the events waiting "
        "for it are dropped, this is the last message, then the server closes the stream. The "
        "client reconnects with `Last-Event-ID` and catches up from the outbox.",
        topics=_STREAM_TOPICS,
        producers=(_SSE_STREAM,),
        notes=_CONTROL_EVENT_NOTE,
    ),
}


# Examples: fixed values, so the document is byte-for-byte reproducible.
_OCCURRED_AT = datetime(2026, 11, 26, 9, 30, 5, tzinfo=UTC)
_CONVERSATION_ID = UUID("6f1c2a7e-3b4d-4e8f-9a01-2b3c4d5e6f70")
_APPROVAL_ID = UUID("0b8e5d42-91c7-4f3a-8d6e-5a4b3c2d1e0f")
_DOCUMENT_ID = UUID("3c9a7e15-2d84-4b6f-a1c0-9e8d7f6a5b4c")
_AGENT_ID = "2f4e6a8c-1b3d-4f5a-9c7e-0d2b4f6a8c1e"


@dataclass(frozen=True)
class _Example:
    id: int
    topic: str
    data: _Payload


def _approval_example(
    *, event_id: int, status: str, previous: str | None, level: int, deadline_minutes: int | None
) -> _Example:
    return _Example(
        event_id,
        APPROVALS_TOPIC,
        ApprovalChange.model_validate(
            {
                "approval_id": _APPROVAL_ID,
                "kind": "reply",
                "status": status,
                "previous_status": previous,
                "escalation_level": level,
                "deadline_at": None
                if deadline_minutes is None
                else datetime(2026, 11, 26, 9, 30 + deadline_minutes, tzinfo=UTC),
                "conversation_id": _CONVERSATION_ID,
                "assignee_id": _AGENT_ID if status in ("edited", "approved") else None,
                "reasons": ["sensitive_intent:refund", "low_grounding"],
            }
        ),
    )


_EXAMPLES: dict[EventType, _Example] = {
    EventType.MESSAGE_CREATED: _Example(
        1042,
        conversation_topic(_CONVERSATION_ID),
        MessageCreated(
            conversation_id=_CONVERSATION_ID,
            message=MessagePayload(
                id=UUID("9d2f4b6a-8c1e-4a3b-b5d7-e9f1a3c5b7d9"),
                role="assistant",
                content="단순 변심에 의한 환불은 상품 수령 후 7일 이내에 신청하실 수 있습니다.",
                created_at=datetime(2026, 11, 26, 9, 30, 4, tzinfo=UTC),
                citations=[
                    CitationPayload(
                        document_id=_DOCUMENT_ID,
                        title="환불 및 교환 정책",
                        chunk_id=UUID("7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
                        score=0.83,
                    )
                ],
            ),
        ),
    ),
    EventType.CONVERSATION_UPDATED: _Example(
        1043,
        DASHBOARD_TOPIC,
        ConversationUpdated(
            conversation_id=_CONVERSATION_ID,
            status="pending_human",
            previous_status="ai",
            assignee_id=None,
        ),
    ),
    EventType.APPROVAL_CREATED: _approval_example(
        event_id=1044, status="pending", previous=None, level=0, deadline_minutes=5
    ),
    EventType.APPROVAL_UPDATED: _approval_example(
        event_id=1045, status="edited", previous="pending", level=0, deadline_minutes=5
    ),
    EventType.APPROVAL_ESCALATED: _approval_example(
        event_id=1046, status="pending", previous="pending", level=1, deadline_minutes=15
    ),
    EventType.APPROVAL_EXPIRED: _approval_example(
        event_id=1047, status="expired", previous="pending", level=2, deadline_minutes=None
    ),
    EventType.DOCUMENT_UPDATED: _Example(
        1048,
        DASHBOARD_TOPIC,
        DocumentUpdated(
            document_id=_DOCUMENT_ID,
            title="환불 및 교환 정책",
            status="ready",
            chunk_count=14,
            version=2,
            error=None,
        ),
    ),
}
_STREAM_EXAMPLES: dict[EventType, _Payload] = {
    EventType.STREAM_RESET: StreamReset(
        reason="replay_window_exceeded",
        detail="Events after Last-Event-ID were removed by retention; refetch state.",
    ),
    EventType.STREAM_OVERFLOW: StreamOverflow(
        detail="The stream fell too far behind; reconnect with Last-Event-ID."
    ),
}


def example_event(event_type: EventType) -> dict[str, Any]:
    """A valid event of ``event_type`` as subscribers receive it (JSON-ready)."""
    if event_type in STREAM_ONLY_TYPES:
        payload = _STREAM_EXAMPLES[event_type]
        return {"type": event_type.value, "data": payload.model_dump(mode="json")}
    example = _EXAMPLES[event_type]
    envelope = EventEnvelope(
        id=example.id,
        type=event_type,
        topic=example.topic,
        occurred_at=_OCCURRED_AT,
        data=example.data.model_dump(mode="json"),
    )
    return envelope.model_dump(mode="json")


# JSON Schemas


def _topic_schema() -> dict[str, Any]:
    return {
        "anyOf": [
            {"enum": [APPROVALS_TOPIC, DASHBOARD_TOPIC], "type": "string"},
            {"pattern": _CONVERSATION_TOPIC.pattern, "type": "string"},
        ],
        "description": "The channel: `approvals`, `dashboard` or `conversation:{uuid}`.",
        "title": "Topic",
    }


def envelope_schema() -> dict[str, Any]:
    """The envelope of any event type (``data`` left open); the per-type schemas narrow it."""
    schema = EventEnvelope.model_json_schema()
    schema["properties"]["topic"] = _topic_schema()
    return schema


def event_schema(event_type: EventType) -> dict[str, Any]:
    payload = EVENT_PAYLOADS[event_type].model_json_schema()
    payload_defs: dict[str, Any] = payload.pop("$defs", {})
    envelope = EventEnvelope.model_json_schema()
    # `type` becomes a const, so the envelope's EventType enum is no longer referenced.
    envelope_defs: dict[str, Any] = envelope.pop("$defs", {})
    envelope_defs.pop(EventType.__name__, None)
    clashes = envelope_defs.keys() & payload_defs.keys()
    if clashes:
        raise ValueError(f"$defs names clash in {event_type}: {sorted(clashes)}")
    properties = envelope["properties"]
    if event_type in STREAM_ONLY_TYPES:
        envelope["properties"] = properties = {"type": {}, "data": {}}
        envelope["required"] = ["type", "data"]
    else:
        properties["topic"] = _topic_schema()
    properties["type"] = {"const": event_type.value, "title": "Type", "type": "string"}
    properties["data"] = payload
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id(event_type),
        **envelope,
        "title": f"{event_type.value} event",
        "description": EVENT_DOCS[event_type].when,
    }
    defs = envelope_defs | payload_defs
    if defs:
        schema["$defs"] = defs
    return schema


def event_schemas() -> dict[str, dict[str, Any]]:
    return {event_type.value: event_schema(event_type) for event_type in EventType}


def schema_json(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# Markdown


def _code(value: object) -> str:
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref")
    if ref is None:
        return prop
    resolved: dict[str, Any] = defs[ref.removeprefix("#/$defs/")]
    return resolved


def _type_label(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    prop = _resolve(prop, defs)
    if "anyOf" in prop:
        return " or ".join(_type_label(option, defs) for option in prop["anyOf"])
    if "const" in prop:
        return _code(prop["const"])
    if "enum" in prop:
        return "one of " + ", ".join(_code(value) for value in prop["enum"])
    return _plain_type_label(prop, defs)


def _plain_type_label(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    kind = str(prop.get("type", "any"))
    if kind == "array":
        return f"array of {_type_label(prop.get('items', {}), defs)}"
    if kind == "object" and "title" in prop and "properties" in prop:
        return f"object ({prop['title']})"
    if "format" in prop:
        kind += f" ({prop['format']})"
    if "pattern" in prop:
        kind += f" matching `{prop['pattern']}`"
    return kind


def _notes(prop: dict[str, Any]) -> str:
    notes = []
    if "description" in prop:
        notes.append(str(prop["description"]))
    if "minimum" in prop:
        notes.append(f"≥ {prop['minimum']}")
    if "default" in prop:
        notes.append(f"default {_code(prop['default'])}")
    return "; ".join(notes)


def _nested_object(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    prop = _resolve(prop, defs)
    if prop.get("type") == "array":
        items = _resolve(prop.get("items", {}), defs)
        return ("[].", items) if "properties" in items else None
    return (".", prop) if "properties" in prop else None


def _field_rows(
    schema: dict[str, Any], defs: dict[str, Any], prefix: str
) -> list[tuple[str, str, str, str]]:
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema["properties"].items():
        path = f"{prefix}{name}"
        rows.append(
            (
                f"`{path}`",
                _type_label(prop, defs),
                "yes" if name in required else "no",
                _notes(prop),
            )
        )
        nested = _nested_object(prop, defs)
        if nested is not None:
            separator, child = nested
            rows.extend(_field_rows(child, defs, f"{path}{separator}"))
    return rows


def _field_table(schema: dict[str, Any], defs: dict[str, Any], prefix: str = "") -> list[str]:
    lines = ["| field | type | required | notes |", "|---|---|---|---|"]
    lines += [
        "| " + " | ".join(_cell(cell) for cell in row) + " |"
        for row in _field_rows(schema, defs, prefix)
    ]
    return lines


def _setting(name: str) -> str:
    default = Settings.model_fields[name].default
    return f"`{name.upper()}` (default {default:g})"


def _producer_line(producer: Producer) -> str:
    status = "" if producer.issue is None else f" (emitted once issue {producer.issue} lands)"
    return f"- {producer.what}{status}"


def _event_section(event_type: EventType) -> list[str]:
    doc = EVENT_DOCS[event_type]
    schema = event_schema(event_type)
    payload_model = EVENT_PAYLOADS[event_type].__name__
    example = example_event(event_type)
    lines = [
        f"### `{event_type.value}`",
        "",
        f"**When:** {doc.when}",
        "",
        "**Topics:**",
        "",
        *(f"- {topic}" for topic in doc.topics),
        "",
        "**Emitted by:**",
        "",
        *(_producer_line(producer) for producer in doc.producers),
        "",
    ]
    if doc.notes:
        lines += [doc.notes, ""]
    lines += [
        f"**Payload** `data`: `{payload_model}` — schema "
        f"[`events/{schema_path(event_type).name}`](events/{schema_path(event_type).name}) "
        f"(`{schema_id(event_type)}`).",
        "",
        *_field_table(schema["properties"]["data"], schema.get("$defs", {}), prefix="data."),
        "",
        "**Example:**",
        "",
        "```json",
        json.dumps(example, indent=2, ensure_ascii=False),
        "```",
        "",
    ]
    return lines


def _sse_example() -> list[str]:
    event = example_event(EventType.CONVERSATION_UPDATED)
    line = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return [
        "```text",
        "retry: 2000",
        "",
        f"id: {event['id']}",
        f"event: {event['type']}",
        f"data: {line}",
        "",
        ": ping",
        "",
        "```",
    ]


def render_events_markdown() -> str:
    envelope = envelope_schema()
    outbox_types = [t for t in EventType if t not in STREAM_ONLY_TYPES]
    stream_types = [t for t in EventType if t in STREAM_ONLY_TYPES]
    lines = [
        "# Realtime events",
        "",
        f"<!-- Generated by `{REGENERATE_COMMAND}` from `functions/_shared/events/schemas.py`. "
        "Do not edit by hand: tests/_shared/events/test_contract.py fails when this file and "
        "the models disagree. -->",
        "",
        "Every state change is an event, written to the outbox in the same transaction as the "
        "change (`emit(tx, topic=..., type=..., data=...)` in `functions/_shared/events`): an "
        "event exists exactly when its change is committed. Events reach clients over "
        "Server-Sent Events from the API and, when configured, over Supabase Realtime broadcast, "
        "with the same envelope both ways.",
        "",
        "Event types: "
        + ", ".join(f"`{t.value}`" for t in outbox_types)
        + "; and the SSE control events "
        + " and ".join(f"`{t.value}`" for t in stream_types)
        + ".",
        "",
        "## Channels",
        "",
        "| topic | carries | who may subscribe |",
        "|---|---|---|",
        f"| `{_CONVERSATION}` (`{{id}}`: the conversation's UUID, lower-case with hyphens) | "
        "`message.created`, `conversation.updated`, `approval.*` of reply approvals | "
        "the customer whose token is for that conversation; agent, supervisor, admin |",
        f"| `{APPROVALS_TOPIC}` | `approval.*` | agent, supervisor, admin |",
        f"| `{DASHBOARD_TOPIC}` | `conversation.updated`, `approval.*`, `document.updated` | "
        "agent, supervisor, admin |",
        "",
        "A customer token gets 403 on any topic but its own conversation's. Any other topic "
        "name is refused: `emit` raises `InvalidEventError`, and `GET /events/{topic}` answers "
        "404.",
        "",
        "## Envelope",
        "",
        "Every event of the outbox, on every channel and transport, is this JSON object (the "
        "SSE control events `stream.*` are the one exception, described with their types):",
        "",
        *_field_table(envelope, envelope.get("$defs", {})),
        "",
        "The `data` of each type is described below and published as a JSON Schema (draft "
        "2020-12) of the whole envelope: `events/<type>.schema.json`, `$id` "
        "`urn:ccos:event:<type>`. Fields that are not required have a default (`null` or `[]`) "
        "and the server always sends them. Fields may be added in later versions, never renamed "
        "or removed: a consumer should ignore fields it does not know.",
        "",
        "## Event ids and resuming",
        "",
        "- `id` is the outbox's `seq`: one sequence for the whole database (every topic), "
        "increasing in delivery order, gap-free across the database, never reused (even after "
        "retention deletes old events). On one topic the ids increase with gaps, the gaps being "
        "other topics' events.",
        "- Why not the row's insert id: transactions commit in another order than they insert, "
        "so a client that saw id 10 could miss id 9 committed a moment later. A single "
        "sequencer gives `seq` only to events whose transaction is certainly over, in commit "
        "order, so a client that has seen `seq` N has seen every earlier event of its topic.",
        "- To resume, reconnect with `Last-Event-ID: <last id seen>` (a browser's `EventSource` "
        "does this itself). The server replays that topic's events after it from the outbox, "
        "in order, then continues live.",
        f"- Events are kept for {_setting('events_retention_hours')} hours. When events after "
        "`Last-Event-ID` have already been deleted, or more than "
        f"{_setting('events_replay_limit')} were missed, nothing is replayed: the stream starts "
        "with `stream.reset`, the client refetches the state it shows over the REST API (the "
        "conversation, the approval queue), and live events follow.",
        "- A slow consumer has a bounded queue of "
        f"{_setting('events_subscriber_queue_size')} events. When it fills, the events waiting "
        "are dropped, the client gets `stream.overflow` and the stream is closed. A client that "
        "does not take a write within "
        f"{_setting('events_send_timeout_seconds')} seconds is disconnected without it. Either "
        "way it reconnects with `Last-Event-ID` and catches up from the outbox.",
        "",
        "## Delivery",
        "",
        "- At least once, in order per stream: ids on one stream only increase. A client that "
        "reconnects may see an event twice; drop any event whose `id` is not greater than the "
        "last one handled on that topic.",
        "- A rolled-back change has no event; a committed one always has.",
        "- Server-Sent Events: the stream opens with `retry: 2000`. Each event is one message: "
        "`id:` is the envelope `id`, `event:` is the `type`, `data:` is the envelope as one line "
        "of JSON. Control events (`stream.*`) have `event:` and `data:` but no `id:`. A "
        "heartbeat comment `: ping` is sent after "
        f"{_setting('events_heartbeat_seconds')} seconds without an event, so that proxies "
        "(Fly's closes idle connections) keep the stream open; clients ignore it. When the "
        "server shuts down, its streams end without a final event; clients reconnect.",
        "",
        *_sse_example(),
        "",
        "## Server-Sent Events endpoint",
        "",
        "`GET /events/{topic}`, for example `GET /events/approvals` or "
        f"`GET /events/{conversation_topic(_CONVERSATION_ID)}`.",
        "",
        "- Credentials: `Authorization: Bearer <jwt>`, or `?access_token=<jwt>` for browsers, "
        "whose `EventSource` cannot set headers (prefer the header: URLs end up in proxy logs).",
        "- Resume: the `Last-Event-ID` header, a non-negative integer (see above).",
        "- 200 `text/event-stream`. Errors are `application/problem+json`: 401 without valid "
        "credentials; 403 (`topic_forbidden`) when the token may not subscribe to the topic; "
        "404 (`unknown_topic`) for a topic that is not a channel; 422 for a malformed "
        "`Last-Event-ID`; 429 with `Retry-After` when "
        f"{_setting('events_max_streams')} streams are already open on the instance.",
        "- Served by the gateway only: a function's standalone app behind Mangum (AWS Lambda) "
        "does not stream.",
        "",
        "## Supabase Realtime broadcast",
        "",
        "When `SUPABASE_URL` and `SUPABASE_SERVICE_ROLE_KEY` are set, every outbox event is also "
        "broadcast through Supabase Realtime: channel (topic) = the event's `topic`, broadcast "
        "`event` = the event's `type`, `payload` = the envelope above, unchanged. Events are "
        "sent in `id` order, at least once (a batch may be sent again): drop an `id` already "
        "handled. Broadcast has no replay: a client that (re)subscribes refetches state, or "
        "uses the SSE endpoint to resume. Control events (`stream.*`) are never broadcast. "
        "Channel authorisation (private channels, RLS on `realtime.messages`) and row-level "
        "listening are described in [`realtime-supabase.md`](realtime-supabase.md).",
        "",
        "## Event types",
        "",
    ]
    for event_type in EventType:
        lines += _event_section(event_type)
    return "\n".join(lines).rstrip("\n") + "\n"


def contract_files() -> dict[Path, str]:
    """Every generated file, by path relative to the repository root."""
    files = {EVENTS_MARKDOWN: render_events_markdown()}
    for event_type in EventType:
        files[schema_path(event_type)] = schema_json(event_schema(event_type))
    return files


def stale_schema_files(root: Path) -> list[Path]:
    """Schema files on disk that the generator no longer produces (a type was removed)."""
    expected = {schema_path(event_type) for event_type in EventType}
    return sorted(
        path.relative_to(root)
        for path in (root / SCHEMAS_DIR).glob(f"*{SCHEMA_SUFFIX}")
        if path.relative_to(root) not in expected
    )


def write_contract(root: Path) -> tuple[list[Path], list[Path]]:
    """Write every generated file under ``root``; returns the paths written and removed."""
    written = []
    for relative, content in contract_files().items():
        path = root / relative
        if path.exists() and path.read_text(encoding="utf-8") == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8"))
        written.append(relative)
    removed = stale_schema_files(root)
    for relative in removed:
        (root / relative).unlink()
    return written, removed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=REGENERATE_COMMAND, description="Write the event contract (events.md, schemas)."
    )
    parser.add_argument(
        "--root", type=Path, default=_REPO_ROOT, help="repository root (default: %(default)s)"
    )
    arguments = parser.parse_args(argv)
    root: Path = arguments.root
    written, removed = write_contract(root)
    for relative in written:
        print(f"wrote {relative}")
    for relative in removed:
        print(f"removed {relative}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
