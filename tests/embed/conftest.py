import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from functions._shared.db.pool import init_connection
from functions._shared.settings import Settings
from gateway.app import create_app
from tests.conftest import bearer, running_client


@pytest.fixture(params=["pgvector", "qdrant"])
async def api(
    settings: Settings, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway, once with vectors in pgvector and once in Qdrant's local in-memory mode."""
    if request.param == "qdrant":
        settings = settings.model_copy(update={"qdrant_url": ":memory:"})
    async with running_client(create_app(settings)) as client:
        yield client


@pytest.fixture
def admin(token_for: Any) -> dict[str, str]:
    return bearer(token_for("admin"))


@pytest.fixture
def agent(token_for: Any) -> dict[str, str]:
    return bearer(token_for("agent"))


@pytest.fixture
async def sql(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection for checking what is stored (autocommit)."""
    connection = await asyncpg.connect(database_url)
    await init_connection(connection)
    yield connection
    await connection.close()


async def indexed(
    api: httpx.AsyncClient, document_id: str, headers: dict[str, str], *, seconds: float = 20
) -> dict[str, Any]:
    """The document once indexing has finished (ready or failed): a 202 promises no more."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        document: dict[str, Any] = (
            await api.get(f"/embed/documents/{document_id}", headers=headers)
        ).json()
        if document["status"] in ("ready", "failed"):
            return document
        assert asyncio.get_running_loop().time() < deadline, f"still {document['status']}"
        await asyncio.sleep(0.05)
