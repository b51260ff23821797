"""Durable indexing jobs on the real database: crash recovery, exactly-once, atomic swaps."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from functions._shared.db.pool import DbPool, create_pool, transaction
from functions._shared.jobs import claim_job, complete_job, requeue_stale_jobs
from functions._shared.kb.runtime import KnowledgeBase, build_knowledge_base
from functions._shared.settings import Settings
from functions.embed import service
from functions.embed.worker import EmbedWorker
from tests.embed.conftest import indexed
from tests.embed.factories import SHIPPING_TEXT, unique_marker


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[DbPool]:
    database_pool = await create_pool(settings, settings.database_url.get_secret_value())  # type: ignore[union-attr]
    yield database_pool
    await database_pool.close()


@pytest.fixture
def kb(settings: Settings) -> KnowledgeBase:
    return build_knowledge_base(settings)


async def queued_document(pool: DbPool, settings: Settings, *, content: str | None = None) -> UUID:
    async with transaction(pool) as tx:
        accepted = await service.create_document(
            tx,
            settings=settings,
            title=f"배송 안내 {unique_marker()}",
            content=content or f"{SHIPPING_TEXT}\n{unique_marker()}",
            content_type="text/markdown",
        )
    return accepted.id


async def job_of(pool: DbPool, document_id: UUID) -> asyncpg.Record:
    row = await pool.fetchrow(
        "select * from jobs where subject_id = $1 order by created_at desc limit 1", document_id
    )
    assert row is not None
    return row


async def test_job_of_a_dead_worker_is_resumed_and_finishes_exactly_once(
    pool: DbPool, kb: KnowledgeBase, settings: Settings
) -> None:
    document_id = await queued_document(pool, settings)
    job_id = (await job_of(pool, document_id))["id"]
    async with pool.acquire() as connection:
        dead = await claim_job(
            connection, kind=service.JOB_KIND, owner="dead-worker", lease_seconds=60, job_id=job_id
        )
    assert dead is not None  # the "dead" worker took the job and then never came back

    async with pool.acquire() as connection:
        requeued = await requeue_stale_jobs(
            connection, now=datetime.now(UTC) + timedelta(minutes=5)
        )
    ran = await service.run_job(pool, kb=kb, owner="live-worker", job_id=job_id)
    async with transaction(pool) as tx:
        late_finish = await complete_job(tx, job_id=job_id, owner="dead-worker")

    job = await job_of(pool, document_id)
    assert requeued >= 1
    assert ran is True
    assert late_finish is False
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
    versions = await pool.fetch(
        "select document_version, count(*) from kb_chunks where document_id = $1 group by 1",
        document_id,
    )
    assert [row["document_version"] for row in versions] == [1]


async def test_running_job_with_a_live_lease_is_not_requeued(
    pool: DbPool, settings: Settings
) -> None:
    document_id = await queued_document(pool, settings)
    job_id = (await job_of(pool, document_id))["id"]
    async with pool.acquire() as connection:
        await claim_job(
            connection, kind=service.JOB_KIND, owner="busy-worker", lease_seconds=600, job_id=job_id
        )
        await requeue_stale_jobs(connection)

    assert (await job_of(pool, document_id))["status"] == "running"


async def test_job_whose_worker_died_on_the_last_attempt_fails_the_document(
    pool: DbPool, kb: KnowledgeBase, settings: Settings
) -> None:
    document_id = await queued_document(pool, settings)
    job_id = (await job_of(pool, document_id))["id"]
    await pool.execute("update jobs set max_attempts = 1 where id = $1", job_id)
    async with pool.acquire() as connection:
        await claim_job(
            connection, kind=service.JOB_KIND, owner="dead-worker", lease_seconds=1, job_id=job_id
        )
        await requeue_stale_jobs(connection, now=datetime.now(UTC) + timedelta(minutes=5))
    await service.fail_documents_of_failed_jobs(pool)

    document = await pool.fetchrow(
        "select status, last_error from kb_documents where id = $1", document_id
    )
    assert document is not None
    assert document["status"] == "failed"
    assert "lease expired" in document["last_error"]


async def test_reprocess_swaps_chunks_atomically_under_concurrent_search(
    pool: DbPool, kb: KnowledgeBase, settings: Settings
) -> None:
    marker = unique_marker()
    long_text = "\n\n".join(f"{SHIPPING_TEXT} {marker} 문단{number}" for number in range(8))
    document_id = await queued_document(pool, settings, content=long_text)
    await service.run_job(
        pool, kb=kb, owner="worker", job_id=(await job_of(pool, document_id))["id"]
    )
    expected = (
        await pool.fetchrow("select chunk_count from kb_documents where id = $1", document_id)
    )["chunk_count"]
    observations: list[tuple[int, int]] = []
    searches_empty = 0
    stop = asyncio.Event()

    async def observe() -> None:
        nonlocal searches_empty
        async with pool.acquire() as connection:
            while not stop.is_set():
                rows = await connection.fetch(
                    "select document_version, count(*) as n from kb_chunks "
                    "where document_id = $1 group by 1",
                    document_id,
                )
                observations.extend((row["document_version"], row["n"]) for row in rows)
                if len(rows) != 1:
                    observations.append((-1, len(rows)))
                hits = await kb.search(connection, query=marker, k=3)
                searches_empty += not any(hit.document_id == document_id for hit in hits)

    observer = asyncio.create_task(observe())
    for _ in range(4):
        async with transaction(pool) as tx:
            await service.reprocess_document(tx, settings=settings, document_id=document_id)
        job_id = (await job_of(pool, document_id))["id"]
        await service.run_job(pool, kb=kb, owner="worker", job_id=job_id)
    stop.set()
    await observer

    assert observations
    assert all(count == expected for _, count in observations)
    assert searches_empty == 0
    versions = {version for version, _ in observations}
    assert versions <= {1, 2, 3, 4, 5}
    assert (await pool.fetchval("select version from kb_documents where id = $1", document_id)) == 5


async def test_delete_removes_the_document_and_its_chunks(
    api: httpx.AsyncClient, admin: dict[str, str], sql: asyncpg.Connection, token_for: Any
) -> None:
    created = (
        await api.post(
            "/embed/documents",
            json={"title": f"삭제 {unique_marker()}", "content": SHIPPING_TEXT + unique_marker()},
            headers=admin,
        )
    ).json()

    deleted = await api.delete(f"/embed/documents/{created['id']}", headers=admin)
    again = await api.get(f"/embed/documents/{created['id']}", headers=admin)

    assert deleted.status_code == 204
    assert again.status_code == 404
    assert again.json()["code"] == "document_not_found"
    remaining = await sql.fetchval(
        "select count(*) from kb_chunks where document_id = $1", UUID(created["id"])
    )
    assert remaining == 0


async def test_reprocess_endpoint_requeues_failed_documents(
    api: httpx.AsyncClient, admin: dict[str, str], sql: asyncpg.Connection
) -> None:
    created = (
        await api.post(
            "/embed/documents",
            json={"title": f"재처리 {unique_marker()}", "content": SHIPPING_TEXT + unique_marker()},
            headers=admin,
        )
    ).json()
    await indexed(api, created["id"], admin)
    await sql.execute(
        "update kb_documents set status = 'failed', last_error = 'test' where id = $1",
        UUID(created["id"]),
    )

    response = await api.post("/embed/reprocess", json={"scope": "failed"}, headers=admin)

    assert response.status_code == 202
    assert created["id"] in response.json()["document_ids"]
    document = await indexed(api, created["id"], admin)
    assert document["status"] == "ready"
    assert document["version"] == 2


async def test_reprocess_of_unknown_document_is_404(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await api.post(
        "/embed/documents/00000000-0000-0000-0000-000000000000/reprocess", headers=admin
    )

    assert response.status_code == 404


async def test_gateway_worker_resumes_a_job_whose_worker_died(
    pool: DbPool, kb: KnowledgeBase, settings: Settings
) -> None:
    document_id = await queued_document(pool, settings)
    job_id = (await job_of(pool, document_id))["id"]
    async with pool.acquire() as connection:
        await claim_job(
            connection, kind=service.JOB_KIND, owner="dead-worker", lease_seconds=60, job_id=job_id
        )
    await pool.execute(
        "update jobs set lease_expires_at = now() - interval '1 second' where id = $1", job_id
    )

    await EmbedWorker(pool, kb=kb, owner="gateway", poll_seconds=60).run_once()

    job = await job_of(pool, document_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
