"""The production app: every function's router under its prefix, one lifespan for all."""

from fastapi import FastAPI
from mangum import Mangum

from functions._shared.app import build_app, database_only_lifespan
from functions._shared.logs import configure_logging
from functions._shared.settings import Settings, get_settings
from gateway import health, me


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)

    app = build_app(
        title="Contact Center OS", settings=settings, lifespan=database_only_lifespan(settings)
    )
    app.include_router(health.router)
    app.include_router(me.router)
    return app


app = create_app()
handler = Mangum(app, lifespan="auto")
