"""The embedded default: PostgreSQL 16 + pgvector from the ``pgserver`` wheel, in ``DATA_DIR/pg``.

pgserver serialises start-up with an inter-process lock and counts the processes holding a
handle, so several processes of one checkout share one server, and the last to exit stops it.
"""

import asyncio
import atexit
import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

logger = structlog.get_logger(__name__)

EMBEDDED_DATABASE = "ccos"
# pgserver's list of the processes holding a handle, in the data directory.
_HANDLE_PIDS_FILE = ".handle_pids.json"
_pruned_at_exit: set[Path] = set()


def _import_pgserver() -> Any:
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI); pgserver
    # falls back to /tmp correctly, so the warning carries no information for us.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver  # noqa: PLC0415

    return pgserver


def embedded_server(data_dir: Path) -> Any:
    """Start (or join) the embedded server and return its pgserver handle."""
    pgdata = (data_dir / "pg").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    pgserver = _import_pgserver()
    _forget_dead_handles(pgserver, pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    if pgdata not in _pruned_at_exit:
        # Registered after pgserver's own exit hook, so it runs first (atexit is LIFO).
        atexit.register(_forget_dead_handles, pgserver, pgdata)
        _pruned_at_exit.add(pgdata)
    logger.info("embedded_postgres_ready", pgdata=str(pgdata))
    return server


def _forget_dead_handles(pgserver: Any, pgdata: Path) -> None:
    """Drop the processes that died without letting go of their handle (SIGKILL, the OOM
    killer: a gateway worker the supervisor replaces). pgserver counts them as holding one
    forever, so the server would outlive every process of the checkout."""
    path = pgdata / _HANDLE_PIDS_FILE
    with pgserver.postgres_server.PostgresServer._lock:
        try:
            pids: list[int] = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        running = [pid for pid in pids if _is_running(pid)]
        if running != pids:
            path.write_text(json.dumps(running))
            dropped = sorted(set(pids) - set(running))
            logger.info("embedded_postgres_dead_handles_dropped", pids=dropped)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    return True


def with_database(uri: str, database: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def ensure_database(server_uri: str, database: str) -> str:
    """Create ``database`` on the server if it is missing; return its URI."""
    connection = await asyncpg.connect(server_uri)
    try:
        exists = await connection.fetchval("select 1 from pg_database where datname = $1", database)
        if not exists:
            # Another process may create it between our check and our create.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await connection.execute(f'create database "{database}"')
    finally:
        await connection.close()
    return with_database(server_uri, database)


async def embedded_database_url(data_dir: Path) -> str:
    server = await asyncio.to_thread(embedded_server, data_dir)
    return await ensure_database(server.get_uri(), EMBEDDED_DATABASE)
