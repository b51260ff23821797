"""KB ingestion: chunk, embed, index, search, reprocess. See README.md.

``router`` (mounted by the gateway under /embed), ``app`` (standalone, from standalone.py)
and ``handler`` (Mangum, AWS Lambda). ``app`` and ``handler`` are built on first access, so
that the gateway, which needs only the router, does not build a second app at import.
"""

from typing import Any

from functions.embed.router import router

__all__ = ["app", "handler", "router"]


def __getattr__(name: str) -> Any:
    if name in ("app", "handler"):
        from functions.embed import standalone  # noqa: PLC0415

        return getattr(standalone, name)
    raise AttributeError(name)
