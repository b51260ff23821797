"""The timeouts function as a standalone app, an AWS Lambda HTTP handler (Mangum), and a plain
scheduled-event handler.

Mangum runs no lifespan scheduler and streams nothing, so on Lambda the sweeps are invoked by
an EventBridge schedule through ``scheduled_handler``; APScheduler runs only in the gateway.
"""

import asyncio
from typing import Any

from fastapi import FastAPI

from functions._shared.app import build_app, database_only_lifespan
from functions._shared.lambda_handler import lambda_handler
from functions._shared.logs import configure_logging
from functions._shared.settings import Settings, get_settings
from functions.timeouts.router import router
from functions.timeouts.service import Counts, sweep_once


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    standalone = build_app(
        title="Contact Center OS — timeouts",
        settings=settings,
        lifespan=database_only_lifespan(settings),
    )
    standalone.include_router(router, prefix="/timeouts")
    return standalone


def scheduled_handler(event: dict[str, Any], context: Any) -> dict[str, Counts]:
    """AWS Lambda entry for an EventBridge schedule: run every sweep once, return the counts."""
    settings = get_settings()
    configure_logging(settings)
    return asyncio.run(sweep_once(settings))


app = create_app()
handler = lambda_handler(app)
