"""Qdrant as the vector backend: the embed service's indexing, search, reprocess and delete, run
against Qdrant's local in-process mode and the real embedded Postgres.

The database is shared with tests whose vectors live in pgvector, so every job here is run by
its id (never "the next due job", which may be theirs) and every count is scoped to this test's
own documents.
"""

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from functions._shared.db.pool import DbPool, create_pool, transaction
from functions._shared.kb.embedders import LocalHashingEmbedder
from functions._shared.kb.qdrant import QdrantBackend, qdrant_backend_from_settings
from functions._shared.kb.runtime import KnowledgeBase
from functions._shared.kb.search import VectorPoint, hybrid_search
from functions._shared.settings import Settings
from functions.embed import service
from tests.embed.factories import SHIPPING_TEXT, unique_marker

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def qdrant_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"qdrant_url": ":memory:"})


@pytest.fixture
async def pool(qdrant_settings: Settings, database_url: str) -> AsyncIterator[DbPool]:
    database_pool = await create_pool(qdrant_settings, database_url)
    yield database_pool
    await database_pool.close()


@pytest.fixture
async def vectors(qdrant_settings: Settings) -> AsyncIterator[QdrantBackend]:
    backend = qdrant_backend_from_settings(qdrant_settings)
    await backend.ensure_collection()
    yield backend
    await backend.close()


@pytest.fixture
def kb(qdrant_settings: Settings, vectors: QdrantBackend) -> KnowledgeBase:
    return KnowledgeBase(
        settings=qdrant_settings,
        embedder=LocalHashingEmbedder(qdrant_settings.embedding_dimensions),
        vectors=vectors,
    )


@pytest.fixture
async def created(pool: DbPool) -> AsyncIterator[list[UUID]]:
    """Ids of the documents a test creates, deleted afterwards: rows with NULL embeddings must
    not linger for the pgvector tests that share the database."""
    document_ids: list[UUID] = []
    yield document_ids
    await pool.execute("delete from kb_documents where id = any($1::uuid[])", document_ids)


async def indexed_document(
    pool: DbPool, kb: KnowledgeBase, created: list[UUID], *, content: str
) -> UUID:
    async with transaction(pool) as tx:
        accepted = await service.create_document(
            tx,
            settings=kb.settings,
            title=f"배송 안내 {unique_marker()}",
            content=content,
            content_type="text/markdown",
        )
    created.append(accepted.id)
    await run_latest_job(pool, kb, accepted.id)
    return accepted.id


async def run_latest_job(pool: DbPool, kb: KnowledgeBase, document_id: UUID) -> None:
    job_id = await pool.fetchval(
        "select id from jobs where subject_id = $1 order by created_at desc limit 1", document_id
    )
    assert await service.run_job(pool, kb=kb, owner="qdrant-worker", job_id=job_id)


async def chunk_ids(pool: DbPool, document_id: UUID) -> set[UUID]:
    rows = await pool.fetch("select id from kb_chunks where document_id = $1", document_id)
    return {row["id"] for row in rows}


async def stored_points(vectors: QdrantBackend, ids: set[UUID]) -> set[UUID]:
    points = await vectors.client.retrieve(vectors.collection, ids=[str(i) for i in ids])
    return {UUID(str(point.id)) for point in points}


async def test_indexed_document_keeps_its_vectors_in_qdrant_not_postgres(
    pool: DbPool, kb: KnowledgeBase, vectors: QdrantBackend, created: list[UUID]
) -> None:
    document_id = await indexed_document(
        pool, kb, created, content=f"{SHIPPING_TEXT}\n{unique_marker()}"
    )

    document = await pool.fetchrow(
        "select status, chunk_count from kb_documents where id = $1", document_id
    )
    stored = await pool.fetchrow(
        "select count(*) as chunks, count(embedding) as embeddings from kb_chunks "
        "where document_id = $1",
        document_id,
    )
    assert document is not None
    assert stored is not None
    assert document["status"] == "ready"
    assert document["chunk_count"] >= 1
    assert (stored["chunks"], stored["embeddings"]) == (document["chunk_count"], 0)
    assert await vectors.point_count(document_id=document_id) == document["chunk_count"]
    ids = await chunk_ids(pool, document_id)
    assert await stored_points(vectors, ids) == ids


async def test_search_finds_the_document_through_qdrant(
    pool: DbPool, kb: KnowledgeBase, created: list[UUID]
) -> None:
    marker = unique_marker()
    document_id = await indexed_document(pool, kb, created, content=f"{SHIPPING_TEXT}\n\n{marker}")

    async with pool.acquire() as connection:
        hits = await service.search(connection, kb=kb, query=f"{marker} 택배 언제 와요?", k=3)

    assert hits
    assert hits[0].document_id == document_id
    # The vector leg (Qdrant) ranked it too, not the keyword leg alone.
    assert hits[0].similarity is not None
    assert hits[0].similarity > 0


async def test_nearest_returns_the_closest_point_with_its_cosine_similarity(
    vectors: QdrantBackend, qdrant_settings: Settings
) -> None:
    embedder = LocalHashingEmbedder(qdrant_settings.embedding_dimensions)
    texts = ["택배는 언제 도착하나요?", "환불은 어떻게 신청하나요?", "멤버십 등급 혜택"]
    points = [
        VectorPoint(chunk_id=uuid4(), document_id=uuid4(), vector=vector)
        for vector in await embedder.embed_documents(texts)
    ]
    await vectors.upsert(points)

    hits = await vectors.nearest(
        None,  # type: ignore[arg-type]  # Qdrant needs no database connection
        vector=points[1].vector,
        limit=2,
    )

    assert hits[0].chunk_id == points[1].chunk_id
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert len(hits) == 2
    assert hits[1].similarity < hits[0].similarity


async def test_upsert_writes_more_points_than_one_batch(
    vectors: QdrantBackend, qdrant_settings: Settings
) -> None:
    document_id = uuid4()
    vector = [1.0] + [0.0] * (qdrant_settings.embedding_dimensions - 1)
    points = [
        VectorPoint(chunk_id=uuid4(), document_id=document_id, vector=vector) for _ in range(600)
    ]

    await vectors.upsert(points)
    assert await vectors.point_count(document_id=document_id) == 600
    await vectors.delete([point.chunk_id for point in points])
    assert await vectors.point_count(document_id=document_id) == 0
    await vectors.delete([])


async def test_reprocess_replaces_the_points(
    pool: DbPool, kb: KnowledgeBase, vectors: QdrantBackend, created: list[UUID]
) -> None:
    document_id = await indexed_document(
        pool, kb, created, content=f"{SHIPPING_TEXT}\n{unique_marker()}"
    )
    old_ids = await chunk_ids(pool, document_id)

    async with transaction(pool) as tx:
        await service.reprocess_document(tx, settings=kb.settings, document_id=document_id)
    await run_latest_job(pool, kb, document_id)

    new_ids = await chunk_ids(pool, document_id)
    chunk_count = await pool.fetchval(
        "select chunk_count from kb_documents where id = $1", document_id
    )
    assert new_ids
    assert not new_ids & old_ids
    assert await stored_points(vectors, old_ids) == set()
    assert await stored_points(vectors, new_ids) == new_ids
    assert await vectors.point_count(document_id=document_id) == chunk_count == len(new_ids)


async def test_delete_removes_the_points(
    pool: DbPool, kb: KnowledgeBase, vectors: QdrantBackend, created: list[UUID]
) -> None:
    document_id = await indexed_document(
        pool, kb, created, content=f"{SHIPPING_TEXT}\n{unique_marker()}"
    )
    assert await vectors.point_count(document_id=document_id) > 0

    async with transaction(pool) as tx:
        removed = await service.delete_document(tx, document_id=document_id)
    await kb.vectors.delete(removed)  # what the route schedules after its response

    assert removed
    assert await vectors.point_count(document_id=document_id) == 0
    assert await chunk_ids(pool, document_id) == set()


async def test_reprocess_under_concurrent_search_always_finds_the_document(
    pool: DbPool, kb: KnowledgeBase, vectors: QdrantBackend, created: list[UUID]
) -> None:
    marker = unique_marker()
    long_text = "\n\n".join(f"{SHIPPING_TEXT} {marker} 문단{number}" for number in range(8))
    document_id = await indexed_document(pool, kb, created, content=long_text)
    expected = await pool.fetchval(
        "select chunk_count from kb_documents where id = $1", document_id
    )
    query_vector = await kb.embedder.embed_query(marker)
    observations: list[tuple[int, int]] = []
    searches = hybrid_missed = vector_missed = 0
    stop = asyncio.Event()

    async def observe() -> None:
        nonlocal searches, hybrid_missed, vector_missed
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
                # Vector leg alone: Qdrant's points and Postgres's rows must agree at all times.
                vector_hits = await hybrid_search(
                    connection,
                    query_vector=query_vector,
                    query_terms=[],
                    k=3,
                    candidates=50,
                    rrf_k=kb.settings.search_rrf_k,
                    vectors=vectors,
                )
                searches += 1
                hybrid_missed += not any(hit.document_id == document_id for hit in hits)
                vector_missed += not any(hit.document_id == document_id for hit in vector_hits)
                await asyncio.sleep(0)

    observer = asyncio.create_task(observe())
    for _ in range(3):
        async with transaction(pool) as tx:
            await service.reprocess_document(tx, settings=kb.settings, document_id=document_id)
        await run_latest_job(pool, kb, document_id)
    stop.set()
    await observer

    assert searches > 0
    assert all(count == expected for _, count in observations)
    assert (hybrid_missed, vector_missed) == (0, 0)
    assert await pool.fetchval("select version from kb_documents where id = $1", document_id) == 4
    assert await vectors.point_count(document_id=document_id) == expected


async def test_ensure_collection_refuses_a_collection_of_another_size(
    vectors: QdrantBackend, qdrant_settings: Settings
) -> None:
    other_size = QdrantBackend(
        vectors.client,
        collection="built_for_another_model",
        dimensions=qdrant_settings.embedding_dimensions // 2,
        index_payload=False,
    )
    await other_size.ensure_collection()
    ours = QdrantBackend(
        vectors.client,
        collection="built_for_another_model",
        dimensions=qdrant_settings.embedding_dimensions,
        index_payload=False,
    )

    with pytest.raises(RuntimeError, match="EMBEDDING_DIMENSIONS"):
        await ours.ensure_collection()
    await other_size.ensure_collection()  # the right size is accepted, and again


async def test_path_mode_keeps_points_across_restarts(
    qdrant_settings: Settings, tmp_path: Path
) -> None:
    on_disk = qdrant_settings.model_copy(update={"qdrant_url": f"path:{tmp_path / 'qdrant'}"})
    document_id = uuid4()
    vector = [1.0] + [0.0] * (on_disk.embedding_dimensions - 1)
    first = qdrant_backend_from_settings(on_disk)
    try:
        await first.ensure_collection()
        await first.upsert([VectorPoint(chunk_id=uuid4(), document_id=document_id, vector=vector)])
    finally:
        await first.close()

    second = qdrant_backend_from_settings(on_disk)
    try:
        await second.ensure_collection()
        assert await second.point_count(document_id=document_id) == 1
    finally:
        await second.close()


def test_empty_path_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="directory"):
        qdrant_backend_from_settings(settings.model_copy(update={"qdrant_url": "path:"}))


def test_qdrant_client_is_imported_only_when_a_backend_is_built() -> None:
    probe = (
        "import sys, functions._shared.kb.runtime, functions._shared.kb.qdrant; "
        "sys.exit('qdrant_client' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
