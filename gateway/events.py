"""GET /events/{topic}: Server-Sent Events (gateway only: Lambda cannot hold a stream)."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request

from functions._shared.app import AppSettings
from functions._shared.auth import StreamPrincipal
from functions._shared.auth.tokens import Principal
from functions._shared.errors import NotFound, PermissionDenied
from functions._shared.events.hub import EventHub
from functions._shared.events.outbox import EventFrame
from functions._shared.events.schemas import (
    CONVERSATION_TOPIC_PREFIX,
    is_valid_topic,
)
from functions._shared.events.stream import EventStreamResponse, replay_events

router = APIRouter(tags=["events"])

_STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An event stream: `id`, `event` (the type) and `data` (the envelope).",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    404: {"description": "No such topic."},
    429: {"description": "Too many event streams are open on this instance."},
}


def authorize_topic(principal: Principal, topic: str) -> None:
    if not is_valid_topic(topic):
        raise NotFound(f"No such topic: {topic}.", code="unknown_topic")
    if principal.is_staff:
        return
    own_topic = (
        f"{CONVERSATION_TOPIC_PREFIX}{principal.conversation_id}"
        if principal.conversation_id
        else None
    )
    if topic != own_topic:
        raise PermissionDenied(
            "This token may not subscribe to this topic.", code="topic_forbidden"
        )


# status_code is explicit: FastAPI cannot infer it from a custom response class (its OpenAPI
# generation failed without it).
@router.get(
    "/events/{topic}",
    status_code=200,
    response_class=EventStreamResponse,
    responses=_STREAM_RESPONSES,
)
async def stream_events(
    request: Request,
    principal: StreamPrincipal,
    settings: AppSettings,
    topic: Annotated[str, Path(description="conversation:{id}, approvals or dashboard")],
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=2**63 - 1)] = None,
) -> EventStreamResponse:
    authorize_topic(principal, topic)
    hub: EventHub = request.app.state.event_hub
    subscription = hub.subscribe(topic)
    replay: list[EventFrame] = []
    preamble: bytes | None = None
    try:
        if last_event_id is not None:
            replay, preamble = await replay_events(
                request.app.state.pool,
                topic=topic,
                last_event_id=last_event_id,
                until_seq=subscription.live_from_seq,
                limit=settings.events_replay_limit,
            )
    except BaseException:
        hub.unsubscribe(subscription)
        raise
    return EventStreamResponse(
        hub=hub,
        subscription=subscription,
        replay=replay,
        preamble=preamble,
        heartbeat_seconds=settings.events_heartbeat_seconds,
        send_timeout_seconds=settings.events_send_timeout_seconds,
    )
