"""Shared set-up for the benchmarks: a fresh, migrated database on the embedded server, and the
gateway as its own process (`ccos serve`)."""

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from functions._shared.db.embedded import embedded_server, with_database  # noqa: E402
from functions._shared.db.migrations import apply_migrations, discover_migrations  # noqa: E402
from functions._shared.settings import Settings  # noqa: E402


@asynccontextmanager
async def fresh_database(prefix: str) -> AsyncIterator[str]:
    """A new database on the embedded server, migrated; dropped afterwards."""
    server = await asyncio.to_thread(embedded_server, REPO_ROOT / ".data")
    server_uri = server.get_uri()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_uri)
    await admin.execute(f'create database "{name}"')
    url = with_database(server_uri, name)
    try:
        connection = await asyncpg.connect(url)
        await apply_migrations(connection, discover_migrations(REPO_ROOT / "supabase/migrations"))
        await connection.close()
        yield url
    finally:
        await admin.execute(f'drop database if exists "{name}" with (force)')
        await admin.close()


def reference_loop_ms(iterations: int = 5_000_000, runs: int = 3) -> float:
    """How fast this machine runs plain Python right now: the best of ``runs`` timings of a
    fixed loop. This VM's cores change speed over time (by up to about 1.5x between runs
    minutes apart); a figure read next to this one says which state it was measured in."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        total = 0
        for number in range(iterations):
            total += number
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def bench_settings(database_url: str, **overrides: object) -> Settings:
    return Settings(_env_file=None, database_url=database_url, log_level="WARNING", **overrides)  # type: ignore[arg-type]


CCOS = str(Path(sys.executable).parent / "ccos")


def start_gateway(
    *, port: int, log_path: Path, env: dict[str, str], workers: int = 1
) -> "subprocess.Popen[bytes]":
    """`ccos serve` on 127.0.0.1:``port`` with ``env`` over ours, its output in ``log_path``;
    request logging off (WARNING): the figures are the server's work, not its log's."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [CCOS, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            cwd=REPO_ROOT,
            env={**os.environ, "LOG_LEVEL": "WARNING", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop_process(process: "subprocess.Popen[bytes]", *, timeout_seconds: float = 30) -> None:
    """SIGTERM (a clean stop), SIGKILL if it has not ended within the timeout."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_tail(log_path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def wait_ready(base_url: str, gateway: "subprocess.Popen[bytes]", log_path: Path) -> None:
    """Until /readyz answers 200; the log's tail in the error if the gateway exits or hangs."""
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(1200):
            if gateway.poll() is not None:
                raise RuntimeError(f"ccos serve exited:\n{log_tail(log_path)}")
            try:
                if (await client.get(f"{base_url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"gateway not ready after 60 s:\n{log_tail(log_path)}")
