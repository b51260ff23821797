"""Cold start of the gateway: import time of ``gateway.app`` and seconds from process start to
the first ``/readyz`` 200, against an already running database (the embedded one, migrated).

    .venv/bin/python bench/cold_start.py [--runs 5]

Targets (issue 2): ready <= 1.5 s, import <= 0.8 s. Prints a table and writes
bench/results/cold_start.json.
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench._measure import free_port  # noqa: E402
from functions._shared.db.migrations import migrate_database  # noqa: E402
from functions._shared.db.pool import resolve_database_url  # noqa: E402
from functions._shared.settings import Settings  # noqa: E402

CCOS = str(Path(sys.executable).parent / "ccos")
IMPORT_SNIPPET = (
    "import time; started = time.perf_counter(); import gateway.app; "
    "print(time.perf_counter() - started)"
)


def measure_import(env: dict[str, str]) -> float:
    output = subprocess.run(
        [sys.executable, "-c", IMPORT_SNIPPET],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(output.strip().splitlines()[-1])


def measure_ready(env: dict[str, str]) -> float:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [CCOS, "serve", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(timeout=1) as client:
            while True:
                try:
                    if client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        return time.perf_counter() - started
                except httpx.TransportError:
                    pass
                if process.poll() is not None:
                    raise RuntimeError("ccos serve exited before it was ready")
                time.sleep(0.01)
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    database_url = asyncio.run(resolve_database_url(settings))
    asyncio.run(migrate_database(settings))
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}

    imports = [measure_import(env) for _ in range(arguments.runs)]
    readies = [measure_ready(env) for _ in range(arguments.runs)]
    result = {
        "import_seconds_median": round(statistics.median(imports), 3),
        "import_seconds_max": round(max(imports), 3),
        "ready_seconds_median": round(statistics.median(readies), 3),
        "ready_seconds_max": round(max(readies), 3),
        "runs": arguments.runs,
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(
        f"import gateway.app : median {result['import_seconds_median']} s, "
        f"max {result['import_seconds_max']} s (target <= 0.8 s)"
    )
    print(
        f"process -> /readyz : median {result['ready_seconds_median']} s, "
        f"max {result['ready_seconds_max']} s (target <= 1.5 s)"
    )
    (REPO_ROOT / "bench" / "results" / "cold_start.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
