"""The embed function as a standalone app (and AWS Lambda handler).

On Lambda, Mangum runs the lifespan on every invocation and nothing runs after the response:
documents are indexed by the gateway's worker or by `ccos embed reprocess`, not by
BackgroundTasks.
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
from functions.embed.router import router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)

    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            database_lifespan(app, settings),
            opened_knowledge_base(settings) as knowledge_base,
        ):
            app.state.knowledge_base = knowledge_base
            yield

    standalone = build_app(
        title="Contact Center OS — embed",
        settings=settings,
        lifespan=contextlib.asynccontextmanager(lifespan),
    )
    standalone.include_router(router, prefix="/embed")
    return standalone


app = create_app()
handler = lambda_handler(app)
