"""The one error family of the project and its rendering as RFC 9457 problem details.

    CCOSError                       500 internal_error
    ├── InvalidInput                422 invalid_input
    ├── NotAuthenticated            401 not_authenticated
    ├── PermissionDenied            403 forbidden
    ├── NotFound                    404 not_found
    ├── Conflict                    409 conflict
    ├── PayloadTooLarge             413 payload_too_large
    ├── RateLimited                 429 rate_limited (carries Retry-After)
    └── DependencyUnavailable       503 dependency_unavailable

Routes and services raise these; one set of handlers (``install_error_handlers``) renders
them, FastAPI's validation errors, Starlette's HTTP errors and unexpected exceptions alike.
"""

from typing import Any, ClassVar

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:ccos:problem:"

logger = structlog.get_logger(__name__)


class CCOSError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.instance_code = code or self.code
        self.extra = extra or {}
        self.headers = headers or {}


class InvalidInput(CCOSError):
    status = 422
    code = "invalid_input"
    title = "Invalid input"


class NotAuthenticated(CCOSError):
    status = 401
    code = "not_authenticated"
    title = "Not authenticated"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        # RFC 6750: a 401 tells the client which scheme to use.
        super().__init__(detail, code=code, headers={"WWW-Authenticate": "Bearer"})


class PermissionDenied(CCOSError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(CCOSError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(CCOSError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(CCOSError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class RateLimited(CCOSError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_seconds: int, code: str | None = None) -> None:
        super().__init__(
            detail,
            code=code,
            extra={"retry_after_seconds": retry_after_seconds},
            headers={"Retry-After": str(retry_after_seconds)},
        )


class DependencyUnavailable(CCOSError):
    status = 503
    code = "dependency_unavailable"
    title = "Service unavailable"


_STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad request"),
    401: ("not_authenticated", "Not authenticated"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("invalid_input", "Invalid input"),
    429: ("rate_limited", "Too many requests"),
    503: ("dependency_unavailable", "Service unavailable"),
}


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_PREFIX}{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
        "request_id": request_id,
    }
    body.update(extra or {})
    response_headers = dict(headers or {})
    if request_id:
        # Set here too: a 500 is rendered outside the middleware that adds it to other responses.
        response_headers["X-Request-ID"] = request_id
    return JSONResponse(
        body, status_code=status, headers=response_headers, media_type=PROBLEM_CONTENT_TYPE
    )


async def _handle_ccos_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CCOSError)
    if exc.status >= 500:
        logger.error("request_failed", code=exc.instance_code, detail=exc.detail)
    return problem_response(
        request,
        status=exc.status,
        code=exc.instance_code,
        title=exc.title,
        detail=exc.detail,
        extra=exc.extra,
        headers=exc.headers,
    )


async def _handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # The offending input is left out on purpose: it may carry personal data.
    errors = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]
    return problem_response(
        request,
        status=422,
        code="invalid_input",
        title="Invalid input",
        detail="The request does not match the expected schema.",
        extra={"errors": errors},
    )


async def _handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # The framework answers 400 to a body it cannot decode at all (not UTF-8 JSON, a broken
    # multipart form); our contract calls that invalid input.
    if exc.status_code == 400:
        return problem_response(
            request,
            status=422,
            code="unreadable_body",
            title="Invalid input",
            detail="The request body could not be decoded (JSON must be UTF-8; forms must be "
            "well-formed multipart).",
        )
    code, title = _STATUS_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem_response(
        request,
        status=exc.status_code,
        code=code,
        title=title,
        detail=detail,
        headers=dict(exc.headers or {}),
    )


async def _handle_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled_exception", exc_type=type(exc).__name__)
    return problem_response(
        request,
        status=500,
        code="internal_error",
        title="Internal server error",
        detail="An unexpected error occurred. It has been logged.",
    )


# The database going away under a request: a stopped or restarting server, a dropped socket,
# a connection the pool handed out that the server has since closed, too many clients. The one
# list every layer uses (the pool, readiness, the event relay, the chat turn, the handler).
DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    # Refused, reset, or (embedded Postgres, a Unix socket) the socket file gone.
    OSError,
    TimeoutError,
)


# Any failure of the database, a refused statement included: for background loops and checks
# that retry or report rather than answer a request.
DATABASE_ERRORS: tuple[type[Exception], ...] = (*DATABASE_UNAVAILABLE_ERRORS, asyncpg.PostgresError)


async def _handle_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database_unavailable", error=type(exc).__name__)
    return problem_response(
        request,
        status=503,
        code="dependency_unavailable",
        title="Service unavailable",
        detail="The database is unavailable; retry shortly.",
        headers={"Retry-After": "5"},
    )


async def _handle_unstorable_value(request: Request, exc: Exception) -> JSONResponse:
    # The request's transaction was rolled back by the error: nothing of it was stored.
    logger.info("unstorable_value", error=type(exc).__name__)
    return problem_response(
        request,
        status=422,
        code="unstorable_value",
        title="Invalid input",
        detail="A value cannot be stored (for example a NUL character, \\u0000, in text or "
        "JSON, or a number out of range).",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CCOSError, _handle_ccos_error)
    # Postgres refuses some values JSON allows (NUL in text and jsonb, numbers beyond bigint).
    app.add_exception_handler(asyncpg.DataError, _handle_unstorable_value)
    for error in DATABASE_UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, _handle_database_unavailable)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_error)
    app.add_exception_handler(Exception, _handle_unexpected_error)
