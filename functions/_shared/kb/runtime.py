"""The knowledge base as the functions use it: an embedder, a vector backend, hybrid search.

Built once per process (``build_knowledge_base``) and shared: embed indexes through it, chat
retrieves through it, and both embed queries with the same embedder the chunks were built with.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from functions._shared.db.pool import DbConnection
from functions._shared.kb.embedders import Embedder, build_embedder
from functions._shared.kb.korean import keyword_terms
from functions._shared.kb.search import (
    PgVectorBackend,
    SearchResult,
    TermFrequencies,
    VectorBackend,
    hybrid_search,
)
from functions._shared.pii import mask_personal_data
from functions._shared.settings import Settings


@dataclass(frozen=True)
class PreparedQuery:
    vector: list[float]
    terms: list[str]


@dataclass
class KnowledgeBase:
    settings: Settings
    embedder: Embedder
    vectors: VectorBackend
    term_frequencies: TermFrequencies = field(default_factory=TermFrequencies)

    async def search(self, connection: DbConnection, *, query: str, k: int) -> list[SearchResult]:
        return await self.search_prepared(connection, await self.prepare_query(query), k=k)

    async def prepare_query(self, query: str) -> PreparedQuery:
        """The query's vector and keyword terms: the part that may call an outside embedder, so
        a caller can do it before taking a database connection."""
        # Masked first: the query may be a customer's message, bound for an outside embedder.
        masked = mask_personal_data(query)
        vector = await self.embedder.embed_query(masked)
        return PreparedQuery(vector=vector, terms=await asyncio.to_thread(keyword_terms, masked))

    async def search_prepared(
        self, connection: DbConnection, prepared: "PreparedQuery", *, k: int
    ) -> list[SearchResult]:
        terms = await self.term_frequencies.selective(
            connection,
            prepared.terms,
            max_chunks=self.settings.search_keyword_max_term_chunks,
            max_terms=self.settings.search_keyword_max_terms,
        )
        return await hybrid_search(
            connection,
            query_vector=prepared.vector,
            query_terms=terms,
            k=k,
            candidates=max(k, self.settings.search_candidates),
            rrf_k=self.settings.search_rrf_k,
            vectors=self.vectors,
            vector_weight=self.settings.search_vector_weight,
            keyword_weight=self.settings.search_keyword_weight,
        )


def build_vector_backend(settings: Settings) -> VectorBackend:
    if settings.qdrant_url:  # an empty QDRANT_URL= line in .env means off
        from functions._shared.kb.qdrant import qdrant_backend_from_settings  # noqa: PLC0415

        return qdrant_backend_from_settings(settings)
    return PgVectorBackend(ef_search=settings.search_hnsw_ef_search)


def build_knowledge_base(settings: Settings) -> KnowledgeBase:
    return KnowledgeBase(
        settings=settings,
        embedder=build_embedder(settings),
        vectors=build_vector_backend(settings),
    )


@asynccontextmanager
async def opened_knowledge_base(settings: Settings) -> AsyncIterator[KnowledgeBase]:
    """The knowledge base with its vector backend ready (Qdrant: the collection created or
    checked) and closed again on exit, whatever happens in between."""
    knowledge_base = build_knowledge_base(settings)
    # Only outside stores have start-up and shut-down work; pgvector has none.
    ensure = getattr(knowledge_base.vectors, "ensure_collection", None)
    if ensure is not None:
        await ensure()
    try:
        yield knowledge_base
    finally:
        close = getattr(knowledge_base.vectors, "close", None)
        if close is not None:
            await close()
