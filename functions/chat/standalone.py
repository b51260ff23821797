"""The chat function as a standalone app (and AWS Lambda handler).

On Lambda, Mangum never streams: a post with ``Accept: text/event-stream`` is answered once the
turn has finished (the whole SSE body at once). Event streams (``/events``) exist only in the
gateway.
"""

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from functions._shared.app import build_app
from functions._shared.db.pool import database_lifespan
from functions._shared.kb.runtime import opened_knowledge_base
from functions._shared.lambda_handler import lambda_handler
from functions._shared.logs import configure_logging
from functions._shared.settings import Settings, get_settings
from functions.chat.router import router
from functions.chat.service import build_chat_runtime, close_chat_runtime


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)

    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            database_lifespan(app, settings),
            opened_knowledge_base(settings) as knowledge_base,
        ):
            app.state.chat_runtime = build_chat_runtime(settings, knowledge_base)
            try:
                yield
            finally:
                await close_chat_runtime(
                    app.state.chat_runtime, timeout_seconds=settings.chat_timeout_seconds
                )

    standalone = build_app(
        title="Contact Center OS — chat",
        settings=settings,
        lifespan=contextlib.asynccontextmanager(lifespan),
    )
    standalone.include_router(router, prefix="/chat")
    return standalone


app = create_app()
handler = lambda_handler(app)
