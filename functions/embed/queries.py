"""SQL of the embed function."""

from typing import Any
from uuid import UUID

import asyncpg

from functions._shared.db.pool import DbConnection

DOCUMENT_COLUMNS = (
    "id, title, source_url, source_filename, content_type, metadata, status, version, "
    "chunk_count, embedding_model, last_error, created_at, updated_at, indexed_at"
)

_QUALIFIED_DOCUMENT_COLUMNS = ", ".join(f"d.{column}" for column in DOCUMENT_COLUMNS.split(", "))


async def insert_document(
    tx: DbConnection,
    *,
    title: str,
    content: str,
    content_hash: str,
    content_type: str,
    source_url: str | None,
    source_filename: str | None,
    metadata: dict[str, Any],
) -> asyncpg.Record | None:
    """The new document, or None when one with the same content hash exists."""
    return await tx.fetchrow(
        f"""
        insert into kb_documents (title, content, content_hash, content_type, source_url,
                                  source_filename, metadata)
        values ($1, $2, $3, $4, $5, $6, $7)
        on conflict (content_hash) do nothing
        returning {DOCUMENT_COLUMNS}
        """,
        title,
        content,
        content_hash,
        content_type,
        source_url,
        source_filename,
        metadata,
    )


async def document_by_hash(tx: DbConnection, content_hash: str) -> asyncpg.Record | None:
    return await tx.fetchrow(
        f"select {DOCUMENT_COLUMNS} from kb_documents where content_hash = $1", content_hash
    )


async def document_by_id(
    connection: DbConnection, document_id: UUID, *, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " for update" if for_update else ""
    return await connection.fetchrow(
        f"select {DOCUMENT_COLUMNS} from kb_documents where id = $1{lock}", document_id
    )


async def document_source(connection: DbConnection, document_id: UUID) -> asyncpg.Record | None:
    return await connection.fetchrow(
        "select id, title, content, version from kb_documents where id = $1", document_id
    )


async def list_documents(
    connection: DbConnection, *, status: str | None, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    rows = await connection.fetch(
        f"select {DOCUMENT_COLUMNS} from kb_documents where ($1::text is null or status = $1) "
        "order by created_at desc, id limit $2 offset $3",
        status,
        limit,
        offset,
    )
    total: int = await connection.fetchval(
        "select count(*) from kb_documents where ($1::text is null or status = $1)", status
    )
    return rows, total


async def set_status(
    tx: DbConnection, document_id: UUID, *, status: str, error: str | None = None
) -> asyncpg.Record | None:
    return await tx.fetchrow(
        f"update kb_documents set status = $2, last_error = $3, updated_at = now() "
        f"where id = $1 returning {DOCUMENT_COLUMNS}",
        document_id,
        status,
        error,
    )


async def mark_indexed(
    tx: DbConnection, document_id: UUID, *, version: int, chunk_count: int, embedding_model: str
) -> asyncpg.Record | None:
    return await tx.fetchrow(
        f"""
        update kb_documents set status = 'ready', version = $2, chunk_count = $3,
            embedding_model = $4, last_error = null, indexed_at = now(), updated_at = now()
        where id = $1
        returning {DOCUMENT_COLUMNS}
        """,
        document_id,
        version,
        chunk_count,
        embedding_model,
    )


async def chunk_ids(tx: DbConnection, document_id: UUID) -> list[UUID]:
    rows = await tx.fetch("select id from kb_chunks where document_id = $1", document_id)
    return [row["id"] for row in rows]


async def delete_document(tx: DbConnection, document_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(
        f"delete from kb_documents where id = $1 returning {DOCUMENT_COLUMNS}", document_id
    )


async def document_ids(tx: DbConnection, *, only_failed: bool) -> list[UUID]:
    rows = await tx.fetch(
        "select id from kb_documents where ($1 = false or status = 'failed') order by created_at",
        only_failed,
    )
    return [row["id"] for row in rows]


async def documents_whose_job_failed(tx: DbConnection) -> list[asyncpg.Record]:
    """Documents still shown as queued/processing although their last job has failed (its
    worker died on the last attempt, and the stale-job sweep failed the job)."""
    return await tx.fetch(
        f"""
        select {_QUALIFIED_DOCUMENT_COLUMNS}, last_job.last_error as job_error
        from kb_documents d
        join lateral (
            select status, last_error from jobs
            where subject_id = d.id and kind = 'embed_document'
            order by created_at desc limit 1
        ) last_job on true
        where d.status in ('queued', 'processing') and last_job.status = 'failed'
        for update of d skip locked
        """
    )


async def embedding_dimensions(connection: DbConnection) -> int | None:
    value: int | None = await connection.fetchval(
        "select atttypmod from pg_attribute "
        "where attrelid = 'public.kb_chunks'::regclass and attname = 'embedding'"
    )
    return value
