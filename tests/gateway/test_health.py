import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from functions._shared.db.embedded import embedded_server
from functions._shared.db.migrations import apply_migrations, discover_migrations
from functions._shared.settings import Settings
from gateway.app import create_app
from tests.conftest import MIGRATIONS_DIR, running_client


async def test_healthz_is_200(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_200_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Any]:
    """A separate embedded server, so stopping it disturbs no other test."""
    server = embedded_server(tmp_path)
    yield server
    server.cleanup()


def stop_server(server: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import pg_ctl  # noqa: PLC0415

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


async def readyz_until(client: httpx.AsyncClient, status: int, *, seconds: float) -> int:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        current = (await client.get("/readyz")).status_code
        if current == status or asyncio.get_running_loop().time() > deadline:
            return current
        await asyncio.sleep(0.2)


async def test_readyz_is_503_while_the_database_is_down_and_recovers_without_restart(
    own_server: Any, settings: Settings
) -> None:
    own_settings = settings.model_copy(
        update={
            "database_url": SecretStr(own_server.get_uri()),
            "readiness_timeout_seconds": 1.0,
        }
    )
    connection = await asyncpg.connect(own_server.get_uri())
    await apply_migrations(connection, discover_migrations(MIGRATIONS_DIR))
    await connection.close()
    async with running_client(create_app(own_settings)) as client:
        assert (await client.get("/readyz")).status_code == 200

        await asyncio.to_thread(stop_server, own_server)
        down = await client.get("/readyz")

        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        assert down.json()["code"] == "dependency_unavailable"

        await asyncio.to_thread(own_server.ensure_postgres_running)

        assert await readyz_until(client, 200, seconds=10) == 200


def test_mangum_handler_serves_healthz_from_an_http_api_v2_event() -> None:
    from gateway.app import handler  # noqa: PLC0415

    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/healthz",
        "rawQueryString": "",
        "headers": {"host": "abc.execute-api.ap-northeast-2.amazonaws.com"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.execute-api.ap-northeast-2.amazonaws.com",
            "domainPrefix": "abc",
            "http": {
                "method": "GET",
                "path": "/healthz",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "26/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795687200000,
        },
        "isBase64Encoded": False,
    }

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # as on Lambda: one loop for the life of the process
    try:
        response = handler(event, {})
    finally:
        asyncio.set_event_loop(None)
        loop.close()

    assert response["statusCode"] == 200
    assert '"status":"ok"' in response["body"]


async def test_openapi_document_describes_every_route_and_its_problems(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert {
        "/chat/conversations",
        "/approve/approvals",
        "/timeouts/sweep",
        "/events/{topic}",
    } <= set(document["paths"])
    post = document["paths"]["/chat/conversations/{conversation_id}/messages"]["post"]
    for status in ("401", "403", "413", "422", "503"):
        assert "application/problem+json" in post["responses"][status]["content"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
