"""The approve function as a standalone app (and AWS Lambda handler).

Callbacks to external agents are sent by the gateway's callback sender (or by the timeouts
sweep); a Lambda deployment runs ``deliver_due_callbacks`` from its scheduled handler.
"""

from fastapi import FastAPI

from functions._shared.app import build_app, database_only_lifespan
from functions._shared.lambda_handler import lambda_handler
from functions._shared.logs import configure_logging
from functions._shared.settings import Settings, get_settings
from functions.approve.router import router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    standalone = build_app(
        title="Contact Center OS — approve",
        settings=settings,
        lifespan=database_only_lifespan(settings),
    )
    standalone.include_router(router, prefix="/approve")
    return standalone


app = create_app()
handler = lambda_handler(app)
