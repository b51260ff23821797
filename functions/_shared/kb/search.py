"""Hybrid KB search: vector nearest neighbours and Korean keyword matches, fused by
reciprocal-rank fusion (RRF).

Each result carries the fused ``score`` (normalised so that rank 1 in both lists is 1.0) and the
raw signals a caller can threshold on: ``similarity`` (cosine, 0..1 for our embedders) and
``keyword_match`` (the share of the query's terms found in the chunk).
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from functions._shared.db.pool import DbConnection


@dataclass(frozen=True)
class SearchResult:
    document_id: UUID
    title: str
    chunk_id: UUID
    text: str
    score: float
    similarity: float | None
    keyword_match: float
    vector_rank: int | None
    keyword_rank: int | None


@dataclass(frozen=True)
class VectorHit:
    chunk_id: UUID
    similarity: float


@dataclass(frozen=True)
class VectorPoint:
    chunk_id: UUID
    document_id: UUID
    vector: Sequence[float]


class VectorBackend(Protocol):
    """Where chunk vectors live. pgvector keeps them in kb_chunks.embedding (written in the
    swap transaction itself); an outside store (Qdrant) gets new points before the swap and
    loses the replaced ones after it, so search sees old or new chunks, never neither."""

    stores_in_postgres: bool

    async def upsert(self, points: Sequence[VectorPoint]) -> None: ...

    async def delete(self, chunk_ids: Sequence[UUID]) -> None: ...

    async def nearest(
        self, connection: DbConnection, *, vector: Sequence[float], limit: int
    ) -> list[VectorHit]: ...


class PgVectorBackend:
    """pgvector HNSW (cosine) in the chunks table itself."""

    stores_in_postgres = True

    def __init__(self, *, ef_search: int) -> None:
        self.ef_search = ef_search

    async def upsert(self, points: Sequence[VectorPoint]) -> None:
        return None  # written with the chunk rows, in the swap transaction

    async def delete(self, chunk_ids: Sequence[UUID]) -> None:
        return None  # removed with the chunk rows

    async def nearest(
        self, connection: DbConnection, *, vector: Sequence[float], limit: int
    ) -> list[VectorHit]:
        async with connection.transaction():
            # SET LOCAL: the breadth applies to this transaction only, safe behind a pooler.
            await connection.execute(f"set local hnsw.ef_search = {int(self.ef_search)}")
            rows = await connection.fetch(
                "select id, 1 - (embedding <=> $1) as similarity from kb_chunks "
                "where embedding is not null order by embedding <=> $1 limit $2",
                vector,
                limit,
            )
        return [VectorHit(chunk_id=row["id"], similarity=float(row["similarity"])) for row in rows]


def tsquery_text(terms: Sequence[str]) -> str:
    """OR of the quoted terms, for to_tsquery('simple', ...)."""
    unique = dict.fromkeys(term for term in terms if term)
    return " | ".join("'" + term.replace("'", "''").replace("\\", "") + "'" for term in unique)


class TermFrequencies:
    """How common each lexeme is among chunks, from Postgres's own statistics of the tsvector
    column (ANALYZE keeps the most common lexemes with their frequencies), cached.

    A term found in a large share of all chunks says little about relevance, yet makes the
    keyword leg rank every chunk containing it; such terms are left out of the keyword query.
    """

    def __init__(self, *, ttl_seconds: float = 300.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._chunks_with: dict[str, float] = {}
        self._fetched_at = float("-inf")

    async def chunks_with(self, connection: DbConnection) -> dict[str, float]:
        """Estimated number of chunks containing each common lexeme."""
        if time.monotonic() - self._fetched_at > self.ttl_seconds:
            row = await connection.fetchrow(
                "select s.most_common_elems::text::text[] as terms, "
                "s.most_common_elem_freqs as frequencies, c.reltuples as chunks "
                "from pg_class c left join pg_stats s on s.schemaname = 'public' "
                "and s.tablename = 'kb_chunks' and s.attname = 'keywords' "
                "where c.oid = 'public.kb_chunks'::regclass"
            )
            terms = (row["terms"] or []) if row is not None else []
            frequencies = (row["frequencies"] or []) if row is not None else []
            chunks = max(0.0, float(row["chunks"])) if row is not None else 0.0
            self._chunks_with = {
                term: frequency * chunks
                for term, frequency in zip(terms, frequencies, strict=False)
            }
            self._fetched_at = time.monotonic()
        return self._chunks_with

    async def selective(
        self,
        connection: DbConnection,
        terms: Sequence[str],
        *,
        max_chunks: int,
        max_terms: int,
    ) -> list[str]:
        """The query's most specific terms: those in more than ``max_chunks`` chunks dropped
        (but never all of them), rarest first, at most ``max_terms``."""
        chunks_with = await self.chunks_with(connection)
        unique = list(dict.fromkeys(terms))
        ranked = sorted(unique, key=lambda term: chunks_with.get(term, 0.0))
        specific = [term for term in ranked if chunks_with.get(term, 0.0) <= max_chunks]
        return (specific or ranked[:1])[:max_terms]


async def keyword_hits(
    connection: DbConnection, *, terms: Sequence[str], limit: int
) -> list[tuple[UUID, float]]:
    query = tsquery_text(terms)
    if not query:
        return []
    rows = await connection.fetch(
        """
        select id, ts_rank(keywords, query) as rank
        from kb_chunks, to_tsquery('simple', $1) as query
        where keywords @@ query
        order by rank desc, id
        limit $2
        """,
        query,
        limit,
    )
    return [(row["id"], float(row["rank"])) for row in rows]


async def hybrid_search(
    connection: DbConnection,
    *,
    query_vector: Sequence[float],
    query_terms: Sequence[str],
    k: int,
    candidates: int,
    rrf_k: int,
    vectors: VectorBackend,
    vector_weight: float = 1.0,
    keyword_weight: float = 1.0,
) -> list[SearchResult]:
    """Ranks and rows come from one snapshot: a document reprocessed meanwhile is seen whole,
    as before or as after, never half-swapped or missing."""
    search = _hybrid_search(
        connection,
        query_vector=query_vector,
        query_terms=query_terms,
        k=k,
        candidates=candidates,
        rrf_k=rrf_k,
        vectors=vectors,
        vector_weight=vector_weight,
        keyword_weight=keyword_weight,
    )
    if connection.is_in_transaction():
        return await search
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        return await search


async def _hybrid_search(
    connection: DbConnection,
    *,
    query_vector: Sequence[float],
    query_terms: Sequence[str],
    k: int,
    candidates: int,
    rrf_k: int,
    vectors: VectorBackend,
    vector_weight: float,
    keyword_weight: float,
) -> list[SearchResult]:
    vector_list = await vectors.nearest(connection, vector=query_vector, limit=candidates)
    keyword_list = await keyword_hits(connection, terms=query_terms, limit=candidates)
    vector_rank = {hit.chunk_id: rank for rank, hit in enumerate(vector_list, start=1)}
    similarity = {hit.chunk_id: hit.similarity for hit in vector_list}
    keyword_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(keyword_list, start=1)}
    best_possible = (vector_weight + keyword_weight) / (rrf_k + 1)
    fused = {
        chunk_id: (
            (vector_weight / (rrf_k + vector_rank[chunk_id]) if chunk_id in vector_rank else 0.0)
            + (
                keyword_weight / (rrf_k + keyword_rank[chunk_id])
                if chunk_id in keyword_rank
                else 0.0
            )
        )
        / best_possible
        for chunk_id in vector_rank.keys() | keyword_rank.keys()
    }
    top = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], str(chunk_id)))[:k]
    if not top:
        return []
    rows = await connection.fetch(
        """
        select c.id, c.document_id, d.title, c.text, c.keywords,
               (select count(*) from unnest(c.keywords) as lexeme
                where lexeme.lexeme = any($2::text[])) as matched
        from kb_chunks c join kb_documents d on d.id = c.document_id
        where c.id = any($1::uuid[])
        """,
        top,
        list(dict.fromkeys(query_terms)),
    )
    by_id = {row["id"]: row for row in rows}
    distinct_terms = max(1, len(set(query_terms)))
    return [
        SearchResult(
            document_id=by_id[chunk_id]["document_id"],
            title=by_id[chunk_id]["title"],
            chunk_id=chunk_id,
            text=by_id[chunk_id]["text"],
            score=round(fused[chunk_id], 6),
            similarity=similarity.get(chunk_id),
            keyword_match=min(1.0, by_id[chunk_id]["matched"] / distinct_terms),
            vector_rank=vector_rank.get(chunk_id),
            keyword_rank=keyword_rank.get(chunk_id),
        )
        for chunk_id in top
        if chunk_id in by_id
    ]
