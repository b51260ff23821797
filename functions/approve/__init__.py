"""The human-approval queue, for agents and for external AI agents. See README.md.

``router`` (mounted by the gateway under /approve), ``app`` (standalone, from standalone.py) and
``handler`` (Mangum, AWS Lambda), the latter two built on first access.
"""

from typing import Any

from functions.approve.router import router

__all__ = ["app", "handler", "router"]


def __getattr__(name: str) -> Any:
    if name in ("app", "handler"):
        from functions.approve import standalone  # noqa: PLC0415

        return getattr(standalone, name)
    raise AttributeError(name)
