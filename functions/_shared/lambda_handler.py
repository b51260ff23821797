"""AWS Lambda entry points, built on first invocation.

Mangum creates and installs an event loop when it is constructed; doing that at import would
leave a stray loop in every process that merely imports an app (the gateway under uvicorn, the
tests). Built lazily, it exists only where Lambda actually calls it.
"""

import importlib
from collections.abc import Callable
from functools import cache
from typing import Any

from fastapi import FastAPI
from mangum import Mangum


def lambda_handler(app: FastAPI) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    @cache
    def adapter() -> Mangum:
        return Mangum(app, lifespan="auto")

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response: dict[str, Any] = adapter()(event, context)
        return response

    return handler


def standalone_attributes(
    package: str, names: tuple[str, ...] = ("app", "handler")
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for a function's package: ``app`` and ``handler`` come from its
    ``standalone`` module on first access, so the gateway, which needs only the router, does not
    build a second app at import."""

    def attribute(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(f"{package}.standalone"), name)
        raise AttributeError(name)

    return attribute
