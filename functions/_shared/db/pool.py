"""The asyncpg pool, its lifespan, and the one place that owns transactions.

Services receive a ``DbConnection`` and never commit: ``transaction()`` (or the ``Tx``
dependency built on it) commits when the block ends and rolls back when it raises.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy
from fastapi import Depends, FastAPI, Request
from pgvector.asyncpg import register_vector

from functions._shared.db.embedded import embedded_database_url
from functions._shared.errors import (
    DATABASE_ERRORS,
    DATABASE_UNAVAILABLE_ERRORS,
    DependencyUnavailable,
)
from functions._shared.settings import Settings

logger = structlog.get_logger(__name__)

# asyncpg's classes are generic only in its stubs; FastAPI evaluates annotations at runtime.
if TYPE_CHECKING:
    DbConnection: TypeAlias = (
        asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    )
    DbPool: TypeAlias = asyncpg.Pool[asyncpg.Record]
else:
    DbConnection = asyncpg.Connection | PoolConnectionProxy
    DbPool = asyncpg.Pool


async def init_connection(connection: "asyncpg.Connection[asyncpg.Record]") -> None:
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
    # pgvector's binary codec, once the extension exists (the first migration creates it).
    vector_schema = await connection.fetchval(
        "select n.nspname from pg_type t join pg_namespace n on n.oid = t.typnamespace "
        "where t.typname = 'vector'"
    )
    if vector_schema is not None:
        await register_vector(connection, schema=vector_schema)


async def keep_session(connection: "asyncpg.Connection[asyncpg.Record]") -> None:
    """The pool's reset on release. asyncpg's default sends ``pg_advisory_unlock_all(); CLOSE
    ALL; UNLISTEN *; RESET ALL`` after every use: a round trip per request for state this code
    never leaves on a pooled connection (settings are SET LOCAL, advisory locks are
    transaction-scoped, LISTEN has its own direct connection; behind Supavisor's transaction
    pooler none of it could last anyway). asyncpg still rolls back an open transaction first."""


async def resolve_database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return await embedded_database_url(settings.data_dir)


async def create_pool(settings: Settings, dsn: str) -> DbPool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=settings.database_pool_min_size,
        max_size=settings.database_pool_max_size,
        timeout=settings.database_connect_timeout_seconds,
        command_timeout=settings.database_command_timeout_seconds,
        # 0 disables asyncpg's named prepared statements (Supavisor transaction mode).
        statement_cache_size=100 if settings.database_prepared_statements else 0,
        init=init_connection,
        reset=keep_session,
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def database_lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[DbPool]:
    dsn = await resolve_database_url(settings)
    pool = await create_pool(settings, dsn)
    app.state.pool = pool
    app.state.database_url = dsn
    try:
        yield pool
    finally:
        await close_pool(pool, timeout_seconds=settings.database_command_timeout_seconds)


async def close_pool(pool: DbPool, *, timeout_seconds: float) -> None:
    """Close gracefully; a connection still held after the timeout (a task that never gave it
    back) must not keep the process from stopping, so the rest are then terminated."""
    try:
        async with asyncio.timeout(timeout_seconds):
            await pool.close()
    except TimeoutError:
        logger.warning("database_pool_close_timed_out", timeout_seconds=timeout_seconds)
        pool.terminate()


# Dependencies are `async def` even when they only read app state: FastAPI runs a plain `def`
# dependency in its threadpool, which costs more than the lookup.
async def get_pool(request: Request) -> DbPool:
    pool: DbPool | None = getattr(request.app.state, "pool", None)
    if pool is None:
        raise DependencyUnavailable("The database pool is not initialised.")
    return pool


Flush: TypeAlias = Callable[[DbConnection, list[Any]], Awaitable[None]]
# Per connection inside transaction(): rows whose writing waits until just before the commit.
_BEFORE_COMMIT: dict[int, dict[Flush, list[Any]]] = {}


def before_commit_batch(connection: DbConnection, flush: Flush) -> list[Any] | None:
    """The list whose items ``flush(connection, items)`` writes in one statement just before the
    ``transaction()`` holding ``connection`` commits; None outside one (write at once then).

    Why: a transaction's events (a message's, a conversation's) then cost one insert, or none
    when a later statement takes them along (``take_batched_events``), instead of a round trip
    each while the transaction holds its rows' locks. A
    savepoint rolled back inside the transaction does not take its batched items with it:
    nothing that batches runs inside one."""
    batches = _BEFORE_COMMIT.get(id(connection))
    if batches is None:
        return None
    return batches.setdefault(flush, [])


async def _acquire(pool: DbPool) -> "PoolConnectionProxy[asyncpg.Record]":
    try:
        return await pool.acquire()
    except DATABASE_UNAVAILABLE_ERRORS as error:
        raise DependencyUnavailable("The database is unavailable.") from error


@asynccontextmanager
async def autocommit(pool: DbPool) -> AsyncIterator[DbConnection]:
    """A connection outside any transaction: each statement commits by itself. For work that
    is one statement (atomic on its own), which then costs no BEGIN and COMMIT round trips."""
    connection = await _acquire(pool)
    try:
        yield connection
    finally:
        await pool.release(connection)


@asynccontextmanager
async def transaction(pool: DbPool) -> AsyncIterator[DbConnection]:
    connection = await _acquire(pool)
    batches: dict[Flush, list[Any]] = {}
    _BEFORE_COMMIT[id(connection)] = batches
    try:
        async with connection.transaction():
            yield connection
            for flush, items in batches.items():
                if items:
                    await flush(connection, items)
    finally:
        del _BEFORE_COMMIT[id(connection)]
        await pool.release(connection)


async def _transaction_dependency(request: Request) -> AsyncIterator[DbConnection]:
    async with transaction(await get_pool(request)) as connection:
        yield connection


# The pool is read here rather than through a `get_pool` dependency: one node fewer for
# FastAPI to solve on every request.
async def _autocommit_dependency(request: Request) -> AsyncIterator[DbConnection]:
    async with autocommit(await get_pool(request)) as connection:
        yield connection


# scope="function": commit before the response is sent, so a client never sees a success the
# database has not made durable.
Tx = Annotated[DbConnection, Depends(_transaction_dependency, scope="function")]
Autocommit = Annotated[DbConnection, Depends(_autocommit_dependency, scope="function")]
Pool = Annotated[DbPool, Depends(get_pool)]


async def check_database(pool: DbPool, *, timeout_seconds: float) -> None:
    try:
        async with asyncio.timeout(timeout_seconds):
            await pool.fetchval("select 1")
    except DATABASE_ERRORS as error:
        raise DependencyUnavailable(
            f"The database did not answer: {type(error).__name__}."
        ) from error
