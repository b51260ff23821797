"""Builds a FastAPI app the house way: settings, auth, problem+json errors, request logging.

The gateway and each function's standalone app are both made here, so a function can be split
out into its own deployment without changing how it behaves.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from functions._shared.auth.tokens import TokenVerifier
from functions._shared.body_limit import BodySizeLimitMiddleware
from functions._shared.db.pool import database_lifespan
from functions._shared.errors import install_error_handlers
from functions._shared.middleware import RequestContextMiddleware
from functions._shared.openapi import install_problem_documentation
from functions._shared.settings import Settings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def database_only_lifespan(settings: Settings) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with database_lifespan(app, settings):
            yield

    return lifespan


def build_app(*, title: str, settings: Settings, lifespan: Lifespan) -> FastAPI:
    app = FastAPI(title=title, version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(settings)
    install_error_handlers(app)
    install_problem_documentation(app)
    app.add_middleware(BodySizeLimitMiddleware, limit_for=body_limits(settings))
    # Added last, so outermost: the 413 above is logged and carries a request id too.
    app.add_middleware(RequestContextMiddleware)
    return app


# Multipart framing around a KB upload.
UPLOAD_OVERHEAD_BYTES = 64 * 1024


def body_limits(settings: Settings) -> Callable[[str], int]:
    """KB uploads up to KB_MAX_UPLOAD_BYTES; every other body up to REQUEST_MAX_BODY_BYTES."""
    upload_limit = settings.kb_max_upload_bytes + UPLOAD_OVERHEAD_BYTES

    def limit_for(path: str) -> int:
        if path.rstrip("/").endswith("/embed/documents"):
            return max(upload_limit, settings.request_max_body_bytes)
        return settings.request_max_body_bytes

    return limit_for


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# The settings the app was built with (tests build apps with their own), not get_settings().
AppSettings = Annotated[Settings, Depends(get_app_settings)]
