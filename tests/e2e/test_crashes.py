"""Processes killed with SIGKILL mid-work, then started again: nothing accepted is lost and no
effect happens twice — the gateway during ingestion, a sweeper during a sweep."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from functions._shared.auth.tokens import Role, mint_token
from functions._shared.settings import Settings
from tests.conftest import REPO_ROOT, connected, database_of_its_own, free_port
from tests.timeouts.test_concurrent_sweepers import SEED

CCOS = str(Path(sys.executable).parent / "ccos")


def start_gateway(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [CCOS, "serve", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_ready(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(300):
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the gateway did not become ready")


async def test_ingestion_resumes_after_the_gateway_is_killed(
    server_uri: str, tmp_path: Path
) -> None:
    documents = sorted((REPO_ROOT / "examples" / "kb").glob("*.md"))[:8]
    async with database_of_its_own(server_uri, "ccos_crash_ingest") as url, connected(url) as sql:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DATA_DIR": str(tmp_path),
            "JOB_LEASE_SECONDS": "2",
            "JOB_POLL_SECONDS": "0.3",
            "KIWI_WARM_UP_DELAY_SECONDS": "0",
            "SCHEDULER_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
        }
        admin = mint_token(Settings(_env_file=None, data_dir=tmp_path), role=Role.ADMIN)  # type: ignore[call-arg]
        port = free_port()
        gateway = start_gateway(env, port)
        try:
            await wait_ready(f"http://127.0.0.1:{port}")
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {admin}"},
                timeout=30,
            ) as api:
                accepted = [
                    await api.post(
                        "/embed/documents",
                        json={"title": path.stem, "content": path.read_text(encoding="utf-8")},
                    )
                    for path in documents
                ]
            gateway.send_signal(signal.SIGKILL)  # while the documents are being indexed
            gateway.wait()
            interrupted = await sql.fetchval(
                "select count(*) from kb_documents where status <> 'ready'"
            )
            gateway = start_gateway(env, port)
            await wait_ready(f"http://127.0.0.1:{port}")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                ready = await sql.fetchval(
                    "select count(*) from kb_documents where status = 'ready'"
                )
                if ready == len(documents):
                    break
                await asyncio.sleep(0.3)
            rows = await sql.fetch(
                "select d.status, d.version, d.chunk_count,"
                " (select count(*) from kb_chunks c where c.document_id = d.id) as chunks,"
                " (select count(distinct c.document_version) from kb_chunks c"
                "   where c.document_id = d.id) as versions"
                " from kb_documents d"
            )
        finally:
            gateway.send_signal(signal.SIGTERM)
            gateway.wait(timeout=30)

    assert [response.status_code for response in accepted] == [202] * len(documents)
    assert interrupted > 0, "the kill came too late to interrupt anything"
    assert len(rows) == len(documents)
    for row in rows:
        assert row["status"] == "ready"
        assert row["chunks"] == row["chunk_count"] > 0
        assert row["versions"] == 1


async def test_a_sweep_killed_midway_is_finished_by_the_next_exactly_once(
    server_uri: str, tmp_path: Path
) -> None:
    due = 3000
    async with database_of_its_own(server_uri, "ccos_crash_sweep") as url, connected(url) as sql:
        await sql.execute(SEED, due)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DATA_DIR": str(tmp_path),
            "SWEEP_BATCH_SIZE": str(due),
            "LOG_LEVEL": "WARNING",
        }
        sweeper = await asyncio.create_subprocess_exec(
            CCOS,
            "timeouts",
            "sweep",
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(600):  # until it is well under way
            expired_so_far = await sql.fetchval(
                "select count(*) from approvals where status = 'expired'"
            )
            if expired_so_far >= 50:
                break
            await asyncio.sleep(0.05)
        sweeper.send_signal(signal.SIGKILL)
        await sweeper.wait()
        midway = await sql.fetchval("select count(*) from approvals where status = 'expired'")
        again = await asyncio.create_subprocess_exec(
            CCOS,
            "timeouts",
            "sweep",
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert await again.wait() == 0
        expired = await sql.fetchval("select count(*) from approvals where status = 'expired'")
        decided = await sql.fetchval("select count(*) from approval_audit where event = 'decided'")
        notices = await sql.fetchval(
            "select count(*) from messages where role = 'system' and approval_id is not null"
        )

    assert 0 < midway < due, midway
    assert (expired, decided, notices) == (due, due, due)
