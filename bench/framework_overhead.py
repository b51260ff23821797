"""What the web framework costs per request: the gateway app (every function's router, our
middleware, the auth dependencies) called directly over ASGI, no socket and no database.

    .venv/bin/python bench/framework_overhead.py [--requests 5000]

Two routes: ``GET /healthz`` (routing, middleware and a JSON response) and ``GET /me`` (the
same plus the bearer-token dependencies every authenticated route has). Reported: CPU
microseconds per request (the best of three passes, after a warm-up) and the FastAPI version.
Each approval decision is two such requests; this figure is why pyproject.toml keeps FastAPI
below 0.137 (see the README's Benchmarks section). Prints only; no target of its own.
"""

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import fastapi  # noqa: E402

from functions._shared.auth.tokens import Role, mint_token  # noqa: E402
from functions._shared.settings import Settings  # noqa: E402
from gateway.app import create_app  # noqa: E402

PASSES = 3
WARM_UP_REQUESTS = 300


def http_scope(path: str, token: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def cpu_microseconds_per_request(app: Any, scope: dict[str, Any], requests: int) -> float:
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(WARM_UP_REQUESTS):
        await app(dict(scope), receive, send)
    if set(statuses) != {200}:
        raise RuntimeError(f"{scope['path']} answered {sorted(set(statuses))}")
    best = float("inf")
    for _ in range(PASSES):
        started = time.process_time()
        for _ in range(requests):
            await app(dict(scope), receive, send)
        best = min(best, (time.process_time() - started) / requests)
    return round(best * 1_000_000, 1)


async def main_async(requests: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ccos-bench-framework-") as temporary:
        settings = Settings(_env_file=None, data_dir=Path(temporary), log_level="WARNING")  # type: ignore[call-arg]
        token = mint_token(settings, role=Role.AGENT, subject="bench-agent", ttl_seconds=3600)
        app = create_app(settings)
        print(f"FastAPI {fastapi.__version__}, Python {sys.version.split()[0]}")
        for path in ("/healthz", "/me"):
            figure = await cpu_microseconds_per_request(app, http_scope(path, token), requests)
            print(f"GET {path:9s} {figure:7.1f} us CPU per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    asyncio.run(main_async(parser.parse_args().requests))


if __name__ == "__main__":
    main()
