"""HTTP routes of the chat function (mounted under /chat)."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from functions._shared.app import AppSettings
from functions._shared.auth import AnyPrincipal
from functions._shared.db.pool import Pool
from functions._shared.errors import PROBLEM_CONTENT_TYPE, CCOSError, RateLimited
from functions.chat import service
from functions.chat.schemas import (
    ConversationCreate,
    ConversationStarted,
    ConversationView,
    MessagePost,
    TurnResult,
)

router = APIRouter(tags=["chat"])


async def get_chat_runtime(request: Request) -> service.ChatRuntime:
    runtime: service.ChatRuntime = request.app.state.chat_runtime
    return runtime


Runtime = Annotated[service.ChatRuntime, Depends(get_chat_runtime)]


def _problems(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": description, "content": {PROBLEM_CONTENT_TYPE: {}}}
        for status, description in descriptions.items()
    }


def client_address(request: Request, header: str | None) -> str:
    if header is not None and (forwarded := request.headers.get(header)):
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client is not None else "unknown"


@router.post(
    "/conversations",
    status_code=201,
    responses=_problems({422: "Invalid body.", 429: "Too many new conversations."}),
)
async def start_conversation(
    body: ConversationCreate, request: Request, pool: Pool, settings: AppSettings
) -> ConversationStarted:
    return await service.start_conversation(
        pool,
        settings=settings,
        body=body,
        client_address=client_address(request, settings.client_address_header),
    )


@router.get(
    "/conversations/{conversation_id}",
    responses=_problems(
        {401: "Missing or invalid token.", 403: "Another conversation's token.", 404: "None."}
    ),
)
async def read_conversation(
    conversation_id: UUID, principal: AnyPrincipal, pool: Pool
) -> ConversationView:
    return await service.get_conversation(
        pool, principal=principal, conversation_id=conversation_id
    )


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    responses={
        201: {
            "description": "The turn's result; with `Accept: text/event-stream`, an SSE stream "
            'of `delta` events (`{"text"}`) then one `done` event carrying this JSON.',
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **_problems(
            {
                401: "Missing or invalid token.",
                403: "Another conversation's token, or a role that may not post.",
                404: "No such conversation.",
                409: "The conversation is closed, or the same client_message_id is still "
                "being answered.",
                422: "Empty, too long or control characters.",
                429: "Too many messages in this conversation.",
            }
        ),
    },
)
async def post_message(
    conversation_id: UUID,
    body: MessagePost,
    request: Request,
    principal: AnyPrincipal,
    pool: Pool,
    runtime: Runtime,
) -> Any:
    wants_stream = "text/event-stream" in request.headers.get("accept", "")
    if wants_stream:
        # Counted before anything is stored, so a refused stream leaves no message behind.
        if runtime.open_streams >= runtime.settings.chat_max_concurrent_streams:
            raise RateLimited(
                "Too many streamed turns are open on this instance.", retry_after_seconds=1
            )
        runtime.open_streams += 1
    try:
        accepted = await service.accept_message(
            pool,
            settings=runtime.settings,
            principal=principal,
            conversation_id=conversation_id,
            body=body,
            client_address=client_address(request, runtime.settings.client_address_header),
        )
    except BaseException:
        if wants_stream:
            runtime.open_streams -= 1
        raise
    if not wants_stream:
        if isinstance(accepted, TurnResult):
            return accepted
        return await service.run_ai_turn(pool, runtime, accepted)
    return StreamingResponse(
        _counted(runtime, _turn_events(pool, runtime, accepted)),
        status_code=201,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _counted(runtime: service.ChatRuntime, events: AsyncIterator[str]) -> AsyncIterator[str]:
    try:
        async for event in events:
            yield event
    finally:
        runtime.open_streams -= 1


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _turn_events(
    pool: Pool, runtime: service.ChatRuntime, accepted: service.Accepted
) -> AsyncIterator[str]:
    if isinstance(accepted, TurnResult):
        if accepted.reply is not None:
            yield _sse("delta", {"text": accepted.reply.content})
        yield _sse("done", accepted.model_dump(mode="json"))
        return
    deltas: asyncio.Queue[str] = asyncio.Queue()

    async def send(text: str) -> None:
        deltas.put_nowait(text)

    # The turn runs on its own: a client that goes away does not cancel it, and its reply is
    # stored and readable in the conversation afterwards.
    task = asyncio.create_task(service.run_ai_turn(pool, runtime, accepted, on_delta=send))
    runtime.turn_tasks.add(task)
    task.add_done_callback(runtime.turn_tasks.discard)
    while not (task.done() and deltas.empty()):
        getter = asyncio.ensure_future(deltas.get())
        await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            yield _sse("delta", {"text": getter.result()})
        else:
            getter.cancel()
    try:
        result = task.result()
    except CCOSError as error:
        yield _sse(
            "error", {"code": error.instance_code, "status": error.status, "detail": error.detail}
        )
        return
    yield _sse("done", result.model_dump(mode="json"))
