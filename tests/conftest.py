"""Test session: a fresh database on the real embedded PostgreSQL, migrated by our migrations.

The database is created before any test module is imported, and its URL is put in the
environment, so that every ``Settings()`` (including the module-level ``gateway.app``) points at
it. Only what lies across the network in production (OpenAI, Supabase HTTP) is faked, by respx.
"""

import asyncio
import contextlib
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from functions._shared.auth.tokens import Role, mint_token
from functions._shared.db.embedded import embedded_server, with_database
from functions._shared.db.migrations import apply_migrations, discover_migrations
from functions._shared.db.pool import init_connection
from functions._shared.settings import Settings, get_settings
from gateway.server import GatewayServer

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "supabase" / "migrations"
TEST_DATABASE = f"ccos_test_{uuid.uuid4().hex[:12]}"

_session: dict[str, Any] = {}


async def _create_database(server_uri: str, name: str, *, migrate: bool) -> str:
    admin = await asyncpg.connect(server_uri)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    database_url = with_database(server_uri, name)
    if migrate:
        connection = await asyncpg.connect(database_url)
        try:
            await apply_migrations(connection, discover_migrations(MIGRATIONS_DIR))
        finally:
            await connection.close()
    return database_url


async def _drop_database(server_uri: str, name: str) -> None:
    admin = await asyncpg.connect(server_uri)
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


def pytest_configure(config: pytest.Config) -> None:
    server = embedded_server(REPO_ROOT / ".data")
    server_uri = server.get_uri()
    database_url = asyncio.run(_create_database(server_uri, TEST_DATABASE, migrate=True))
    data_dir = tempfile.mkdtemp(prefix="ccos-test-data-")
    _session.update(server=server, server_uri=server_uri, database_url=database_url)
    os.environ.update(
        APP_MODE="embedded",
        DATABASE_URL=database_url,
        DATA_DIR=data_dir,
        MIGRATIONS_DIR=str(MIGRATIONS_DIR),
        LOG_FORMAT="json",
    )
    for name in ("SUPABASE_URL", "SUPABASE_JWT_SECRET", "JWT_ISSUER"):
        os.environ.pop(name, None)
    get_settings.cache_clear()


def pytest_unconfigure(config: pytest.Config) -> None:
    if "server_uri" in _session:
        asyncio.run(_drop_database(_session["server_uri"], TEST_DATABASE))


@pytest.fixture(scope="session")
def server_uri() -> str:
    uri: str = _session["server_uri"]
    return uri


@pytest.fixture(scope="session")
def database_url() -> str:
    url: str = _session["database_url"]
    return url


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def fresh_database(server_uri: str) -> AsyncIterator[str]:
    """An empty database of its own, for tests that migrate or break things."""
    name = f"ccos_fresh_{uuid.uuid4().hex[:12]}"
    url = await _create_database(server_uri, name, migrate=False)
    yield url
    await _drop_database(server_uri, name)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the session database inside a transaction that is rolled back."""
    connection = await asyncpg.connect(database_url)
    transaction = connection.transaction()
    await transaction.start()
    try:
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()


@asynccontextmanager
async def running_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client bound to ``app`` in-process, with the app's lifespan running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    from gateway.app import create_app  # noqa: PLC0415

    async with running_client(create_app(settings)) as running:
        yield running


@pytest.fixture
def token_for(settings: Settings) -> Callable[..., str]:
    def make(role: Role | str, **kwargs: Any) -> str:
        return mint_token(settings, role=Role(role), **kwargs)

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def serve_over_loopback(app: FastAPI) -> AsyncIterator[str]:
    """Run ``app`` under a real uvicorn server on a loopback port; yields its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), log_config=None, access_log=False, lifespan="on"
    )
    server = GatewayServer(config, app=app)
    # Ctrl-C must still stop pytest, not just this server.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def database_of_its_own(server_uri: str, prefix: str) -> AsyncIterator[str]:
    """A fresh, migrated database for tests that need exact counts or data of their own."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = await _create_database(server_uri, name, migrate=True)
    try:
        yield url
    finally:
        await _drop_database(server_uri, name)


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection (autocommit, our JSON and vector codecs) for checking what is stored."""
    connection = await asyncpg.connect(url)
    await init_connection(connection)
    try:
        yield connection
    finally:
        await connection.close()
