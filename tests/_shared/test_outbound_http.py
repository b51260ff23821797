"""Outbound clients share one TLS context: building one loads the CA bundle in the event loop."""

import ssl

import httpx
import pytest

from functions._shared import outbound_http


async def test_clients_share_one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[ssl.SSLContext] = []

    def counting_create_ssl_context() -> ssl.SSLContext:
        context = ssl.create_default_context()
        built.append(context)
        return context

    monkeypatch.setattr(httpx, "create_ssl_context", counting_create_ssl_context)
    outbound_http.tls_context.cache_clear()
    try:
        clients = [outbound_http.async_client(), outbound_http.async_client(timeout=5)]
        for client in clients:
            await client.aclose()
        assert len(built) == 1
        assert outbound_http.tls_context() is built[0]
    finally:
        outbound_http.tls_context.cache_clear()
