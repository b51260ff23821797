"""KB ingestion: accept a document, index it in the background, search, reprocess, delete.

Indexing runs as a durable job (``functions._shared.jobs``): the request that creates or
reprocesses a document records the job in its own transaction and returns at once; the work
runs after the response (FastAPI BackgroundTasks) or in the gateway's worker loop, whichever
claims the job first. Chunks are swapped in one transaction at the end.
"""

import asyncio
import contextlib
import hashlib
import unicodedata
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from functions._shared.db.pool import DbConnection, DbPool, transaction
from functions._shared.errors import InvalidInput, NotFound
from functions._shared.events import DASHBOARD_TOPIC, EventType, emit
from functions._shared.events.schemas import DocumentUpdated
from functions._shared.jobs import (
    Job,
    cancel_jobs,
    claim_job,
    complete_job,
    enqueue_job,
    fail_job,
    renew_lease,
)
from functions._shared.kb.chunking import chunk_text
from functions._shared.kb.index import IndexedChunk, replace_chunks
from functions._shared.kb.korean import keyword_terms
from functions._shared.kb.runtime import KnowledgeBase
from functions._shared.kb.search import VectorPoint
from functions._shared.pii import mask_personal_data
from functions._shared.settings import Settings
from functions.embed import queries
from functions.embed.schemas import (
    Document,
    DocumentAccepted,
    DocumentPage,
    ReprocessResult,
    SearchHit,
)

logger = structlog.get_logger(__name__)

JOB_KIND = "embed_document"
RETRY_BASE_SECONDS = 5.0
_CONTROL_CHARACTERS = dict.fromkeys(code for code in range(32) if chr(code) not in "\n\t") | {
    0x7F: None
}


class LeaseLostError(Exception):
    """Another worker took the job over; this one must drop its result."""


def clean_text(text: str) -> str:
    """Unicode NFC (Korean typed on macOS arrives decomposed), newlines unified, control
    characters (NUL breaks Postgres text) removed."""
    normalised = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return normalised.translate(_CONTROL_CHARACTERS)


def content_hash(title: str, content: str) -> str:
    return hashlib.sha256(f"{title}\x00{content}".encode()).hexdigest()


def document_from_record(record: asyncpg.Record) -> Document:
    values = dict(record)
    values["error"] = values.pop("last_error")
    return Document.model_validate(values)


async def emit_document(
    tx: DbConnection, record: asyncpg.Record, *, status: str | None = None
) -> None:
    await emit(
        tx,
        topic=DASHBOARD_TOPIC,
        type=EventType.DOCUMENT_UPDATED,
        data=DocumentUpdated(
            document_id=record["id"],
            title=record["title"],
            status=status or record["status"],
            chunk_count=record["chunk_count"],
            version=record["version"],
            error=record["last_error"],
        ),
    )


async def check_vector_dimensions(pool: DbPool, *, settings: Settings) -> None:
    """Refuse to start when EMBEDDING_DIMENSIONS differs from the vector column's size."""
    async with pool.acquire() as connection:
        column_dimensions = await queries.embedding_dimensions(connection)
    if column_dimensions is not None and column_dimensions != settings.embedding_dimensions:
        raise RuntimeError(
            f"EMBEDDING_DIMENSIONS={settings.embedding_dimensions} but kb_chunks.embedding holds "
            f"{column_dimensions} dimensions; change the setting or migrate the column"
        )


def validate_document(*, settings: Settings, title: str, content: str) -> tuple[str, str]:
    title = clean_text(title).strip()
    content = clean_text(content).strip()
    if not title:
        raise InvalidInput("The title is empty.", code="empty_title")
    if len(title) > settings.kb_max_title_chars:
        raise InvalidInput(
            f"The title is longer than {settings.kb_max_title_chars} characters.",
            code="title_too_long",
        )
    if not content:
        raise InvalidInput("The document has no text.", code="empty_content")
    if len(content) > settings.kb_max_content_chars:
        raise InvalidInput(
            f"The document is longer than {settings.kb_max_content_chars} characters.",
            code="content_too_long",
        )
    return title, content


async def create_document(
    tx: DbConnection,
    *,
    settings: Settings,
    title: str,
    content: str,
    content_type: str,
    source_url: str | None = None,
    source_filename: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> DocumentAccepted:
    title, content = validate_document(settings=settings, title=title, content=content)
    digest = content_hash(title, content)
    record = await queries.insert_document(
        tx,
        title=title,
        content=content,
        content_hash=digest,
        content_type=content_type,
        source_url=source_url,
        source_filename=source_filename,
        metadata=metadata or {},
    )
    if record is None:
        existing = await queries.document_by_hash(tx, digest)
        assert existing is not None
        return DocumentAccepted(id=existing["id"], status=existing["status"], duplicate=True)
    job, _ = await enqueue_job(
        tx, kind=JOB_KIND, subject_id=record["id"], max_attempts=settings.job_max_attempts
    )
    await emit_document(tx, record)
    return DocumentAccepted(id=record["id"], status="queued", duplicate=False, job_id=job.id)


async def get_document(connection: DbConnection, *, document_id: UUID) -> Document:
    record = await queries.document_by_id(connection, document_id)
    if record is None:
        raise NotFound("No such document.", code="document_not_found")
    return document_from_record(record)


async def list_documents(
    connection: DbConnection, *, status: str | None, limit: int, offset: int
) -> DocumentPage:
    records, total = await queries.list_documents(
        connection, status=status, limit=limit, offset=offset
    )
    return DocumentPage(documents=[document_from_record(r) for r in records], total=total)


async def delete_document(tx: DbConnection, *, document_id: UUID) -> list[UUID]:
    """Delete the document (its chunks cascade); returns the chunk ids, so that an outside
    vector store can drop their points once this transaction has committed."""
    # The job row first: a worker finishing the same document locks its job, then the chunks;
    # taking them in the same order here means the two can wait for each other, not deadlock.
    await cancel_jobs(tx, subject_id=document_id)
    chunk_ids = await queries.chunk_ids(tx, document_id)
    record = await queries.delete_document(tx, document_id)
    if record is None:
        raise NotFound("No such document.", code="document_not_found")
    await emit_document(tx, record, status="deleted")
    return chunk_ids


async def _queue_reprocess(tx: DbConnection, *, settings: Settings, document_id: UUID) -> Job:
    if await queries.document_by_id(tx, document_id) is None:
        raise NotFound("No such document.", code="document_not_found")
    # Lock order everywhere: the job row, then the document row (a finishing worker does the
    # same), so a reprocess and a worker can wait for each other but never deadlock.
    job, created = await enqueue_job(
        tx, kind=JOB_KIND, subject_id=document_id, max_attempts=settings.job_max_attempts
    )
    if created:
        # Chunks stay searchable while the document is reprocessed; only the status shows it.
        updated = await queries.set_status(tx, document_id, status="queued")
        if updated is not None:
            await emit_document(tx, updated)
    return job


async def reprocess_document(
    tx: DbConnection, *, settings: Settings, document_id: UUID
) -> ReprocessResult:
    await _queue_reprocess(tx, settings=settings, document_id=document_id)
    return ReprocessResult(queued=1, document_ids=[document_id])


async def reprocess_documents(
    tx: DbConnection, *, settings: Settings, only_failed: bool
) -> ReprocessResult:
    document_ids = await queries.document_ids(tx, only_failed=only_failed)
    for document_id in document_ids:
        await _queue_reprocess(tx, settings=settings, document_id=document_id)
    return ReprocessResult(queued=len(document_ids), document_ids=document_ids)


async def search(
    connection: DbConnection, *, kb: KnowledgeBase, query: str, k: int | None
) -> list[SearchHit]:
    settings = kb.settings
    if not query.strip():
        raise InvalidInput("The query is empty.", code="empty_query")
    if k is not None and k > settings.search_max_k:
        raise InvalidInput(f"k may be at most {settings.search_max_k}.", code="k_too_large")
    results = await kb.search(connection, query=query, k=k or settings.search_default_k)
    return [
        SearchHit(
            document_id=result.document_id,
            title=result.title,
            chunk_id=result.chunk_id,
            text=result.text,
            score=result.score,
            similarity=result.similarity,
            keyword_match=result.keyword_match,
        )
        for result in results
    ]


# --- the work itself ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _lease_kept(pool: DbPool, *, job: Job, owner: str, seconds: float) -> AsyncIterator[None]:
    async def renew() -> None:
        while True:
            await asyncio.sleep(seconds / 3)
            async with pool.acquire() as connection:
                if not await renew_lease(
                    connection, job_id=job.id, owner=owner, lease_seconds=seconds
                ):
                    return

    renewer = asyncio.create_task(renew())
    try:
        yield
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer


async def _build_chunks(kb: KnowledgeBase, *, title: str, content: str) -> list[IndexedChunk]:
    settings = kb.settings

    def prepare() -> tuple[list[Any], list[str], list[str]]:
        chunks = chunk_text(
            title=title,
            text=content,
            target_chars=settings.chunk_target_chars,
            overlap_chars=settings.chunk_overlap_chars,
        )
        # Masked before anything leaves for an embedder, and before it is stored for citations.
        contexts = [mask_personal_data(chunk.context_text) for chunk in chunks]
        keywords = [" ".join(keyword_terms(context)) for context in contexts]
        return chunks, contexts, keywords

    chunks, contexts, keywords = await asyncio.to_thread(prepare)
    embeddings = await kb.embedder.embed_documents(contexts) if contexts else []
    return [
        IndexedChunk(
            id=uuid.uuid4(),
            ordinal=chunk.ordinal,
            text=mask_personal_data(chunk.text),
            char_start=chunk.char_start,
            char_end=chunk.char_end,
            keyword_text=keyword_text,
            embedding=embedding,
        )
        for chunk, keyword_text, embedding in zip(chunks, keywords, embeddings, strict=True)
    ]


async def _index_document(pool: DbPool, *, kb: KnowledgeBase, job: Job, owner: str) -> None:
    async with transaction(pool) as tx:
        source = await queries.document_source(tx, job.subject_id)
        if source is None:
            await complete_job(tx, job_id=job.id, owner=owner)
            return
        record = await queries.set_status(tx, job.subject_id, status="processing")
        assert record is not None
        await emit_document(tx, record)
    chunks = await _build_chunks(kb, title=source["title"], content=source["content"])
    outside_points: list[UUID] = []
    if not kb.vectors.stores_in_postgres:
        await kb.vectors.upsert(
            [
                VectorPoint(chunk_id=chunk.id, document_id=job.subject_id, vector=chunk.embedding)
                for chunk in chunks
                if chunk.embedding is not None
            ]
        )
        outside_points = [chunk.id for chunk in chunks]
        chunks = [replace(chunk, embedding=None) for chunk in chunks]
    try:
        async with transaction(pool) as tx:
            if not await complete_job(tx, job_id=job.id, owner=owner):
                raise LeaseLostError
            removed = await replace_chunks(
                tx,
                document_id=job.subject_id,
                version=source["version"] + 1,
                embedding_model=kb.embedder.name,
                chunks=chunks,
            )
            record = await queries.mark_indexed(
                tx,
                job.subject_id,
                version=source["version"] + 1,
                chunk_count=len(chunks),
                embedding_model=kb.embedder.name,
            )
            assert record is not None
            await emit_document(tx, record)
    except BaseException:
        # The swap did not happen: the new points (fresh ids, nobody else's) must not linger.
        if outside_points:
            await kb.vectors.delete(outside_points)
        raise
    await kb.vectors.delete(removed)


async def _record_failure(pool: DbPool, *, job: Job, owner: str, error: Exception) -> None:
    message = f"{type(error).__name__}: {error}"[:500]
    async with transaction(pool) as tx:
        failed = await fail_job(
            tx,
            job_id=job.id,
            owner=owner,
            error=message,
            retry_in_seconds=RETRY_BASE_SECONDS * 2 ** (job.attempts - 1),
        )
        if failed is None:
            return
        status = "failed" if failed.status == "failed" else "queued"
        record = await queries.set_status(tx, job.subject_id, status=status, error=message)
        if record is not None:
            await emit_document(tx, record)
    logger.error(
        "document_indexing_failed",
        document_id=str(job.subject_id),
        attempt=job.attempts,
        final=failed.status == "failed",
        error=message,
    )


async def run_job(
    pool: DbPool, *, kb: KnowledgeBase, owner: str, job_id: UUID | None = None
) -> bool:
    """Claim one due job (``job_id``, or the next) and index its document; False if none."""
    settings = kb.settings
    async with pool.acquire() as connection:
        job = await claim_job(
            connection,
            kind=JOB_KIND,
            owner=owner,
            lease_seconds=settings.job_lease_seconds,
            job_id=job_id,
        )
    if job is None:
        return False
    try:
        async with _lease_kept(pool, job=job, owner=owner, seconds=settings.job_lease_seconds):
            await _index_document(pool, kb=kb, job=job, owner=owner)
    except LeaseLostError:
        logger.warning("job_lease_lost", job_id=str(job.id))
    except Exception as error:  # the worker must survive any one document
        await _record_failure(pool, job=job, owner=owner, error=error)
    return True


async def run_due_jobs(
    pool: DbPool, *, kb: KnowledgeBase, owner: str, limit: int, concurrency: int | None = None
) -> int:
    """Run up to ``limit`` due jobs, ``JOB_CONCURRENCY`` at a time (one document's database
    round trips overlap another's chunking and embedding)."""
    ran = 0

    async def drain() -> None:
        nonlocal ran
        while ran < limit:
            ran += 1  # claimed before awaiting, so that workers never overshoot the limit
            if not await run_job(pool, kb=kb, owner=owner):
                ran -= 1
                return

    workers = max(1, min(concurrency or kb.settings.job_concurrency, limit))
    await asyncio.gather(*(drain() for _ in range(workers)))
    return ran


async def fail_documents_of_failed_jobs(pool: DbPool) -> int:
    """Documents whose last job failed without the worker recording it (it died on its last
    attempt; the stale-job sweep then failed the job) are marked failed, with the error."""
    async with transaction(pool) as tx:
        records = await queries.documents_whose_job_failed(tx)
        for record in records:
            updated = await queries.set_status(
                tx, record["id"], status="failed", error=record["job_error"]
            )
            assert updated is not None
            await emit_document(tx, updated)
    return len(records)
