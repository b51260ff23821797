"""Writing a document's chunks: the swap from the old set to the new one is one transaction,
so a concurrent search sees the old set or the new one, never a mix or nothing."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from functions._shared.db.pool import DbConnection


@dataclass(frozen=True)
class IndexedChunk:
    id: UUID
    ordinal: int
    text: str
    char_start: int
    char_end: int
    keyword_text: str  # space-separated Kiwi terms of title + text
    embedding: Sequence[float] | None  # None when vectors live in Qdrant


async def replace_chunks(
    tx: DbConnection,
    *,
    document_id: UUID,
    version: int,
    embedding_model: str,
    chunks: Sequence[IndexedChunk],
) -> list[UUID]:
    """Swap the document's chunks for ``chunks``; returns the ids of the chunks removed."""
    removed = await tx.fetch(
        "delete from kb_chunks where document_id = $1 returning id", document_id
    )
    await tx.executemany(
        """
        insert into kb_chunks (id, document_id, document_version, ordinal, text, char_start,
                               char_end, keywords, embedding, embedding_model)
        values ($1, $2, $3, $4, $5, $6, $7, to_tsvector('simple', $8), $9, $10)
        """,
        [
            (
                chunk.id,
                document_id,
                version,
                chunk.ordinal,
                chunk.text,
                chunk.char_start,
                chunk.char_end,
                chunk.keyword_text,
                chunk.embedding,
                embedding_model,
            )
            for chunk in chunks
        ],
    )
    return [row["id"] for row in removed]
