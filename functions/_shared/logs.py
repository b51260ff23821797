"""Structured JSON logs through structlog, with the standard library's loggers routed to it.

``LOG_REDACTORS`` is the hook where processors that scrub text (personal-data masking) are
appended, so that every line, ours or a library's, passes through them.
"""

import logging
import sys

import structlog
from structlog.types import Processor

from functions._shared.settings import Settings

LOG_REDACTORS: list[Processor] = []


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        *LOG_REDACTORS,
    ]


def configure_logging(settings: Settings) -> None:
    # Registers the personal-data masker in LOG_REDACTORS; imported here because pii imports
    # this module (a top-level import would be circular).
    import functions._shared.pii  # noqa: F401, PLC0415

    renderer: Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            # First: a line below LOG_LEVEL is dropped before any processor works on it (the
            # request line alone would otherwise be built, timestamped and masked per request).
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level)
    # uvicorn's own access log would duplicate the request line our middleware writes.
    logging.getLogger("uvicorn.access").disabled = True
    # pgserver narrates every pg_ctl call at INFO; its warnings and errors are what matter.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
