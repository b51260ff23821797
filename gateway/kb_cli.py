"""``ccos kb ingest`` and ``ccos embed reprocess``: the knowledge base from the terminal.

Work runs in this process against the configured (or embedded) database, so ops can ingest or
reprocess by hand without a running server.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from functions._shared.db.pool import DbPool, create_pool, resolve_database_url, transaction
from functions._shared.errors import CCOSError
from functions._shared.kb.runtime import KnowledgeBase, opened_knowledge_base
from functions._shared.settings import Settings
from functions.embed import service
from functions.embed.extract import CONTENT_TYPES, extract_text
from functions.embed.router import WORKER_ID

console = Console()


@dataclass
class Outcome:
    path: str
    result: str
    document_id: UUID | None = None
    chunks: int = 0


def collect_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        files.extend(
            candidate
            for candidate in candidates
            if candidate.is_file()
            and candidate.suffix.lower() in CONTENT_TYPES
            and candidate.name.lower() != "readme.md"
        )
    return files


@asynccontextmanager
async def knowledge_base(settings: Settings) -> AsyncIterator[tuple[DbPool, KnowledgeBase]]:
    pool = await create_pool(settings, await resolve_database_url(settings))
    try:
        async with opened_knowledge_base(settings) as opened:
            yield pool, opened
    finally:
        await pool.close()


async def _ingest_one(pool: DbPool, kb: KnowledgeBase, path: Path) -> Outcome:
    try:
        extracted = extract_text(path.name, await asyncio.to_thread(path.read_bytes))
        async with transaction(pool) as tx:
            accepted = await service.create_document(
                tx,
                settings=kb.settings,
                title=extracted.title_hint or path.stem,
                content=extracted.text,
                content_type=extracted.content_type,
                source_filename=path.name,
            )
    except CCOSError as error:
        return Outcome(str(path), f"refused: {error.detail}")
    if accepted.duplicate:
        return Outcome(str(path), "unchanged", accepted.id)
    await service.run_job(pool, kb=kb, owner=WORKER_ID, job_id=accepted.job_id)
    async with pool.acquire() as connection:
        document = await service.get_document(connection, document_id=accepted.id)
    return Outcome(str(path), document.status, accepted.id, document.chunk_count)


async def ingest(settings: Settings, paths: list[Path]) -> list[Outcome]:
    files = collect_files(paths)
    outcomes: list[Outcome] = []
    async with knowledge_base(settings) as (pool, kb):
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("ingesting", total=len(files))
            for path in files:
                outcomes.append(await _ingest_one(pool, kb, path))
                progress.advance(task)
    return outcomes


async def reprocess(
    settings: Settings, *, document_id: UUID | None, only_failed: bool
) -> tuple[int, int]:
    """Queue and run the reprocessing now; returns (queued, ran)."""
    async with knowledge_base(settings) as (pool, kb):
        async with transaction(pool) as tx:
            if document_id is not None:
                result = await service.reprocess_document(
                    tx, settings=settings, document_id=document_id
                )
            else:
                result = await service.reprocess_documents(
                    tx, settings=settings, only_failed=only_failed
                )
        ran = await service.run_due_jobs(pool, kb=kb, owner=WORKER_ID, limit=result.queued)
    return result.queued, ran


def print_summary(outcomes: list[Outcome]) -> None:
    table = Table(title="Knowledge base ingestion")
    for column in ("file", "result", "chunks", "document"):
        table.add_column(column)
    for outcome in outcomes:
        table.add_row(
            outcome.path, outcome.result, str(outcome.chunks), str(outcome.document_id or "")
        )
    console.print(table)


def run_ingest(settings: Settings, paths: list[Path]) -> list[Outcome]:
    outcomes = asyncio.run(ingest(settings, paths))
    print_summary(outcomes)
    return outcomes
