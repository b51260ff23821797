"""Server-Sent Events for one topic: replay after Last-Event-ID, then live events.

A raw ASGI response rather than a generator, so that every write has a deadline: a client that
stops reading is disconnected after ``EVENTS_SEND_TIMEOUT_SECONDS`` instead of pinning a
coroutine and buffers forever.
"""

import asyncio
import contextlib
import json

import structlog
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from functions._shared.db.pool import DbPool
from functions._shared.events.hub import EventHub, StreamEnd, Subscription
from functions._shared.events.outbox import EventFrame, oldest_retained_seq, topic_frames_after
from functions._shared.events.schemas import (
    EventType,
    StreamOverflow,
    StreamReset,
)

logger = structlog.get_logger(__name__)

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    # Proxies (nginx, Fly's) must pass each event on at once, not buffer the stream.
    (b"x-accel-buffering", b"no"),
]


class ClientTooSlowError(Exception):
    """The client did not take a write within the send deadline."""


def _control_event(event_type: EventType, payload: StreamReset | StreamOverflow) -> bytes:
    data = json.dumps(
        {"type": event_type.value, "data": payload.model_dump(mode="json")}, ensure_ascii=False
    )
    # No id: a control event must not move the client's resume point.
    return f"event: {event_type.value}\ndata: {data}\n\n".encode()


async def replay_events(
    pool: DbPool, *, topic: str, last_event_id: int, until_seq: int, limit: int
) -> tuple[list[EventFrame], bytes | None]:
    """Events of ``topic`` in (last_event_id, until_seq], or a reset when they cannot all be
    replayed (some were removed by retention, or there are more than ``limit``)."""
    async with pool.acquire() as connection:
        oldest = await oldest_retained_seq(connection)
        if oldest is not None and last_event_id + 1 < oldest:
            return [], _control_event(
                EventType.STREAM_RESET,
                StreamReset(
                    reason="replay_window_exceeded",
                    detail="Events after Last-Event-ID were removed by retention; refetch state.",
                ),
            )
        events = await topic_frames_after(
            connection, topic=topic, after_seq=last_event_id, until_seq=until_seq, limit=limit + 1
        )
    if len(events) > limit:
        return [], _control_event(
            EventType.STREAM_RESET,
            StreamReset(
                reason="replay_limit_exceeded",
                detail=f"More than {limit} events to replay; refetch state.",
            ),
        )
    return events, None


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        *,
        hub: EventHub,
        subscription: Subscription,
        replay: list[EventFrame],
        preamble: bytes | None,
        heartbeat_seconds: float,
        send_timeout_seconds: float,
    ) -> None:
        self.hub = hub
        self.subscription = subscription
        self.replay = replay
        self.preamble = preamble
        self.heartbeat_seconds = heartbeat_seconds
        self.send_timeout_seconds = send_timeout_seconds
        # Response's own __init__ renders a body; a stream has none, only these attributes.
        self.status_code = 200
        self.background = None
        self.raw_headers = list(SSE_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        disconnected = asyncio.create_task(self._wait_for_disconnect(receive))
        streaming = asyncio.create_task(self._stream(send))
        try:
            await asyncio.wait({disconnected, streaming}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.hub.unsubscribe(self.subscription)
            for task in (disconnected, streaming):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ClientTooSlowError):
                    await task
            if streaming.done() and not streaming.cancelled():
                error = streaming.exception()
                if isinstance(error, ClientTooSlowError):
                    logger.warning("event_stream_client_too_slow", topic=self.subscription.topic)

    @staticmethod
    async def _wait_for_disconnect(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _write(self, send: Send, body: bytes, *, more_body: bool = True) -> None:
        try:
            async with asyncio.timeout(self.send_timeout_seconds):
                await send({"type": "http.response.body", "body": body, "more_body": more_body})
        except TimeoutError as error:
            raise ClientTooSlowError from error

    async def _stream(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        # Tell EventSource how soon to reconnect, and flush the headers through proxies.
        await self._write(send, b"retry: 2000\n\n")
        if self.preamble is not None:
            await self._write(send, self.preamble)
        last_sent = -1
        for frame in self.replay:
            await self._write(send, frame.sse)
            last_sent = frame.seq
        queue = self.subscription.queue
        while True:
            try:
                async with asyncio.timeout(self.heartbeat_seconds):
                    item = await queue.get()
            except TimeoutError:
                await self._write(send, b": ping\n\n")
                continue
            if item is StreamEnd.OVERFLOW:
                overflow = StreamOverflow(
                    detail="The stream fell too far behind; reconnect with Last-Event-ID."
                )
                await self._write(send, _control_event(EventType.STREAM_OVERFLOW, overflow))
                await self._write(send, b"", more_body=False)
                return
            if item is StreamEnd.SHUTDOWN:
                await self._write(send, b"", more_body=False)
                return
            assert isinstance(item, EventFrame)
            if item.seq > last_sent:
                await self._write(send, item.sse)
                last_sent = item.seq
