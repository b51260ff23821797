"""Qdrant as the vector backend, picked when ``QDRANT_URL`` is set.

Chunk rows (text, keywords, document version) stay in Postgres with ``embedding`` NULL; each
chunk's vector is a Qdrant point whose id is the chunk id and whose payload names its document.
Search takes the nearest point ids from Qdrant and reads the rows from Postgres, so a point whose
row is gone (replaced by a reprocess, deleted with its document) simply drops out.

``QDRANT_URL`` takes three forms:

- ``http(s)://host:6333``: a Qdrant server or Qdrant Cloud (``QDRANT_API_KEY`` if it needs one);
- ``:memory:``: Qdrant's local in-process mode, held in memory and lost with the process (tests;
  every backend built this way is a store of its own, so the CLI cannot see the gateway's);
- ``path:<directory>`` (e.g. ``path:.data/qdrant``): local in-process mode persisted in that
  directory, no server to install. One process at a time may open it (Qdrant locks the folder),
  and local mode searches by brute force: for development, not for 100k chunks.

``qdrant_client`` takes most of a second to import, so it is imported only when a backend is
built: the gateway's cold start does not pay for it when Qdrant is off.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from functions._shared.db.pool import DbConnection
from functions._shared.kb.search import VectorHit, VectorPoint
from functions._shared.settings import Settings

if TYPE_CHECKING:
    from qdrant_client import AsyncQdrantClient
    from qdrant_client.http.models import VectorParams

MEMORY_LOCATION = ":memory:"
PATH_PREFIX = "path:"
# Points per request: keeps each request well under the server's payload limit (32 MB by
# default) at any embedding size we allow (≤ 2,000 floats).
BATCH_SIZE = 256


class QdrantBackend:
    """Vectors in one Qdrant collection (cosine), written ahead of the Postgres swap."""

    stores_in_postgres = False

    def __init__(
        self,
        client: "AsyncQdrantClient",
        *,
        collection: str,
        dimensions: int,
        index_payload: bool = True,
    ) -> None:
        self.client = client
        self.collection = collection
        self.dimensions = dimensions
        # Local mode ignores payload indexes and warns when asked for one.
        self.index_payload = index_payload

    async def ensure_collection(self) -> None:
        """Create the collection if it is missing; refuse one built for other vectors."""
        from qdrant_client.http.exceptions import UnexpectedResponse  # noqa: PLC0415
        from qdrant_client.http.models import (  # noqa: PLC0415
            Distance,
            PayloadSchemaType,
            VectorParams,
        )

        if not await self.client.collection_exists(self.collection):
            try:
                await self.client.create_collection(
                    self.collection,
                    vectors_config=VectorParams(size=self.dimensions, distance=Distance.COSINE),
                )
            except (UnexpectedResponse, ValueError):
                # Another instance starting at the same time may have created it first.
                if not await self.client.collection_exists(self.collection):
                    raise
            else:
                if self.index_payload:
                    await self.client.create_payload_index(
                        self.collection,
                        field_name="document_id",
                        field_schema=PayloadSchemaType.KEYWORD,
                    )
        params = await self._vector_params()
        if params is None or params.size != self.dimensions:
            size = "named vectors" if params is None else f"{params.size} dimensions"
            raise RuntimeError(
                f"Qdrant collection {self.collection!r} holds {size} but "
                f"EMBEDDING_DIMENSIONS={self.dimensions}; set QDRANT_COLLECTION to another "
                "collection or delete this one"
            )
        if params.distance != Distance.COSINE:
            raise RuntimeError(
                f"Qdrant collection {self.collection!r} uses {params.distance} distance, "
                "not cosine; set QDRANT_COLLECTION to another collection or delete this one"
            )

    async def _vector_params(self) -> "VectorParams | None":
        """The collection's single unnamed vector, or None when it holds named vectors."""
        from qdrant_client.http.models import VectorParams  # noqa: PLC0415

        info = await self.client.get_collection(self.collection)
        vectors = info.config.params.vectors
        return vectors if isinstance(vectors, VectorParams) else None

    async def upsert(self, points: Sequence[VectorPoint]) -> None:
        from qdrant_client.http.models import PointStruct  # noqa: PLC0415

        for start in range(0, len(points), BATCH_SIZE):
            batch = [
                PointStruct(
                    id=str(point.chunk_id),
                    vector=[float(value) for value in point.vector],
                    payload={"document_id": str(point.document_id)},
                )
                for point in points[start : start + BATCH_SIZE]
            ]
            # wait=True: the points are searchable before the chunk rows that name them commit.
            await self.client.upsert(self.collection, points=batch, wait=True)

    async def delete(self, chunk_ids: Sequence[UUID]) -> None:
        from qdrant_client.http.models import PointIdsList  # noqa: PLC0415

        for start in range(0, len(chunk_ids), BATCH_SIZE):
            batch = chunk_ids[start : start + BATCH_SIZE]
            ids: list[int | str] = [str(chunk_id) for chunk_id in batch]
            await self.client.delete(
                self.collection, points_selector=PointIdsList(points=ids), wait=True
            )

    async def nearest(
        self, connection: DbConnection, *, vector: Sequence[float], limit: int
    ) -> list[VectorHit]:
        response = await self.client.query_points(
            self.collection,
            query=[float(value) for value in vector],
            limit=limit,
            with_payload=False,
            with_vectors=False,
        )
        return [
            VectorHit(chunk_id=UUID(str(point.id)), similarity=float(point.score))
            for point in response.points
        ]

    async def point_count(self, *, document_id: UUID | None = None) -> int:
        """Points in the collection, or those of one document (exact count)."""
        from qdrant_client.http.models import (  # noqa: PLC0415
            FieldCondition,
            Filter,
            MatchValue,
        )

        count_filter = (
            Filter(
                must=[FieldCondition(key="document_id", match=MatchValue(value=str(document_id)))]
            )
            if document_id is not None
            else None
        )
        result = await self.client.count(self.collection, count_filter=count_filter, exact=True)
        return int(result.count)

    async def close(self) -> None:
        await self.client.close()


def qdrant_backend_from_settings(settings: Settings) -> QdrantBackend:
    """A backend for ``settings.qdrant_url`` (see the module docstring for its forms)."""
    from qdrant_client import AsyncQdrantClient  # noqa: PLC0415

    location = settings.qdrant_url
    if not location:
        raise ValueError("QDRANT_URL is not set")
    if location == MEMORY_LOCATION:
        client = AsyncQdrantClient(location=MEMORY_LOCATION)
        local = True
    elif location.startswith(PATH_PREFIX):
        directory = location.removeprefix(PATH_PREFIX).strip()
        if not directory:
            raise ValueError("QDRANT_URL=path: needs a directory, e.g. path:.data/qdrant")
        client = AsyncQdrantClient(path=directory)
        local = True
    else:
        api_key = (
            settings.qdrant_api_key.get_secret_value()
            if settings.qdrant_api_key is not None
            else None
        )
        client = AsyncQdrantClient(url=location, api_key=api_key)
        local = False
    return QdrantBackend(
        client,
        collection=settings.qdrant_collection,
        dimensions=settings.embedding_dimensions,
        index_payload=not local,
    )
