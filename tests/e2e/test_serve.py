"""The `make run` path for real: `ccos serve` in its own process, embedded Postgres from
scratch, migrations, then a token from `ccos token` accepted over HTTP."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import REPO_ROOT

CCOS = str(Path(sys.executable).parent / "ccos")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "SUPABASE_URL", "SUPABASE_JWT_SECRET"}
    }
    env.update(DATA_DIR=str(tmp_path / "data"), APP_MODE="embedded")
    return env


@pytest.fixture
def server(embedded_env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    yield from serve(embedded_env)


def serve(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    process = subprocess.Popen(
        [CCOS, "serve", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield f"http://127.0.0.1:{port}", process
    if process.poll() is None:
        process.kill()
        process.wait()


def wait_until_ready(base_url: str, process: subprocess.Popen[str], seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        assert process.poll() is None, "ccos serve exited before it was ready"
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"/readyz not 200 within {seconds} s")


def test_serve_from_an_empty_data_folder_becomes_ready_and_accepts_minted_tokens(
    server: tuple[str, subprocess.Popen[str]], embedded_env: dict[str, str]
) -> None:
    base_url, process = server
    wait_until_ready(base_url, process, seconds=90)
    token = subprocess.run(
        [CCOS, "token", "--role", "agent"],
        cwd=REPO_ROOT,
        env=embedded_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    healthz = httpx.get(f"{base_url}/healthz", timeout=5)
    me = httpx.get(f"{base_url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)

    assert healthz.status_code == 200
    assert me.status_code == 200
    assert me.json()["role"] == "agent"

    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "Traceback" not in output


@pytest.fixture
def fast_deadlines_server(
    embedded_env: dict[str, str],
) -> Iterator[tuple[str, subprocess.Popen[str], dict[str, str]]]:
    env = {
        **embedded_env,
        "CHAT_PROVIDER": "offline",
        "APPROVAL_DEADLINE_SECONDS": "1",
        "APPROVAL_ESCALATION_LADDER_SECONDS": "[]",
        "SWEEP_APPROVALS_INTERVAL_SECONDS": "0.5",
    }
    for base_url, process in serve(env):
        yield base_url, process, env


def test_the_scheduler_expires_a_due_approval_by_itself_and_stops_with_the_server(
    fast_deadlines_server: tuple[str, subprocess.Popen[str], dict[str, str]],
) -> None:
    base_url, process, env = fast_deadlines_server
    wait_until_ready(base_url, process, seconds=90)
    agent = subprocess.run(
        [CCOS, "token", "--role", "agent"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    started = httpx.post(f"{base_url}/chat/conversations", json={}, timeout=10).json()
    # The knowledge base is empty here, so the question is held for a person.
    turn = httpx.post(
        f"{base_url}/chat/conversations/{started['id']}/messages",
        json={"content": "배송은 얼마나 걸리나요?"},
        headers={"Authorization": f"Bearer {started['token']}"},
        timeout=30,
    ).json()
    approval_url = f"{base_url}/approve/approvals/{turn['approval']['id']}"

    deadline = time.monotonic() + 15
    status = "pending"
    while status == "pending" and time.monotonic() < deadline:
        time.sleep(0.3)
        status = httpx.get(
            approval_url, headers={"Authorization": f"Bearer {agent}"}, timeout=5
        ).json()["status"]

    assert status == "expired"
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    for trouble in ("Traceback", "Warning", '"level": "error"', "was never awaited"):
        assert trouble not in output, output[-3000:]
    assert "scheduler_stopped" in output


def test_several_workers_share_the_port_a_dead_one_is_replaced_and_all_stop_together(
    embedded_env: dict[str, str],
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [CCOS, "serve", "--port", str(port), "--workers", "2"],
        cwd=REPO_ROOT,
        env=embedded_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_ready(base_url, process, seconds=90)
        workers = [
            child for child in psutil.Process(process.pid).children() if "--fd" in child.cmdline()
        ]
        assert len(workers) == 2
        # Every connection is served, whichever worker the kernel hands it to.
        assert all(
            httpx.get(f"{base_url}/healthz", timeout=5).status_code == 200 for _ in range(20)
        )

        workers[0].kill()
        workers[0].wait(timeout=10)
        deadline = time.monotonic() + 30
        replaced: list[psutil.Process] = []
        while time.monotonic() < deadline and len(replaced) < 2:
            time.sleep(0.3)
            replaced = [
                child
                for child in psutil.Process(process.pid).children()
                if "--fd" in child.cmdline()
            ]
        assert len(replaced) == 2
        assert workers[0].pid not in {child.pid for child in replaced}
        wait_until_ready(base_url, process, seconds=60)

        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    # The embedded server stopped with the last process, although the killed worker never let
    # go of its handle (pgserver would have counted it forever).
    assert not (Path(embedded_env["DATA_DIR"]) / "pg" / "postmaster.pid").exists()
    assert not any(child.is_running() for child in replaced)
    assert "gateway_worker_died" in output
    assert "Traceback" not in output
