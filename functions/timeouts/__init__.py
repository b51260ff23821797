"""Sweeps: approval deadlines, idle conversations, stale jobs, callbacks, retention. See README.md.

``router`` (mounted by the gateway under /timeouts), and, built on first access, ``app``
(standalone), ``handler`` (Mangum, for the HTTP endpoint on AWS Lambda) and
``scheduled_handler`` (a plain handler for a scheduled event).
"""

from typing import Any

from functions.timeouts.router import router

__all__ = ["app", "handler", "router", "scheduled_handler"]


def __getattr__(name: str) -> Any:
    if name in ("app", "handler", "scheduled_handler"):
        from functions.timeouts import standalone  # noqa: PLC0415

        return getattr(standalone, name)
    raise AttributeError(name)
