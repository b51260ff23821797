"""Schemathesis against the real gateway: `ccos serve` in its own process on a database of its
own, its `/openapi.json`, and a valid token for every role (and none). Every response must be
documented, match its schema and content type, and no response may be a server error.

`make test` runs a bounded number of cases (at least 500 in all); `make fuzz` sets
`CCOS_FUZZ_EXAMPLES` higher for at least 5,000.
"""

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from functions._shared.auth.tokens import Role, mint_token
from functions._shared.settings import Settings
from tests.conftest import REPO_ROOT, _create_database, _drop_database, free_port

BIN = Path(sys.executable).parent
# Examples per operation and phase, for each of the six callers below.
EXAMPLES = int(os.environ.get("CCOS_FUZZ_EXAMPLES", "10"))
MINIMUM_CASES = int(os.environ.get("CCOS_FUZZ_MINIMUM_CASES", "500"))
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


@dataclass
class Gateway:
    base_url: str
    tokens: dict[str, str]
    process: subprocess.Popen[str]


@pytest.fixture(scope="module")
def gateway(server_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data_dir = tmp_path_factory.mktemp("fuzz-data")
    database = f"ccos_fuzz_{uuid.uuid4().hex[:12]}"
    database_url = asyncio.run(_create_database(server_uri, database, migrate=True))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "ERROR",
        "SCHEDULER_ENABLED": "false",
    }
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "ccos"), "serve", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(base_url, process)
        settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
        started = httpx.post(f"{base_url}/chat/conversations", json={}, timeout=10).json()
        tokens = {
            role.value: mint_token(settings, role=role, subject=f"fuzz-{role.value}")
            for role in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN, Role.SERVICE)
        }
        tokens["customer"] = started["token"]
        yield Gateway(base_url=base_url, tokens=tokens, process=process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        asyncio.run(_drop_database(server_uri, database))


def _wait_until_ready(base_url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0][-3000:]
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("the gateway did not become ready")


def run_schemathesis(gateway: Gateway, role: str | None) -> tuple[int, str]:
    """One schemathesis run as ``role`` (None: no token); returns the cases run and the output."""
    command = [
        str(BIN / "schemathesis"),
        "run",
        f"{gateway.base_url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(EXAMPLES),
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "20261126",
        "--request-timeout",
        "30",
        "--no-color",
        "--suppress-health-check",
        "all",
    ]
    if role is not None:
        command += ["--header", f"Authorization: Bearer {gateway.tokens[role]}"]
    result = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return _cases(output), output


def _cases(output: str) -> int:
    match = re.search(r"(\d+) generated", output)
    assert match is not None, output[-3000:]
    return int(match.group(1))


def test_the_api_survives_fuzzing_as_every_role(gateway: Gateway) -> None:
    cases = {
        role or "anonymous": run_schemathesis(gateway, role)[0]
        for role in (None, "customer", "agent", "supervisor", "admin", "service")
    }

    print("schemathesis cases per caller:", cases)
    assert sum(cases.values()) >= MINIMUM_CASES, cases
    assert gateway.process.poll() is None
