"""Outbound HTTP clients (approval callbacks, Realtime broadcasts, JWKS) with one TLS context
per process.

httpx builds a TLS context for every client it makes, loading the whole CA bundle: tens of
milliseconds of CPU inside the event loop, during which every request in flight waits. The
callbacks sweep made a client every ten seconds, and so stalled the gateway that often.
"""

import functools
import ssl
from typing import Any

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def async_client(**options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` (same options) on the process's TLS context."""
    return httpx.AsyncClient(verify=tls_context(), **options)
