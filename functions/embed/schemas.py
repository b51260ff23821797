"""Request and response models of the embed function."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

DocumentStatus = Literal["queued", "processing", "ready", "failed"]


class DocumentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, description="Shown in citations.")
    content: str = Field(min_length=1, description="Plain text or Markdown.")
    source_url: AnyHttpUrl | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class DocumentAccepted(BaseModel):
    id: UUID
    status: DocumentStatus
    duplicate: bool = Field(
        description="True when identical content was already ingested: nothing new was stored."
    )
    job_id: UUID | None = None


class Document(BaseModel):
    id: UUID
    title: str
    source_url: str | None
    source_filename: str | None
    content_type: str
    metadata: dict[str, Any]
    status: DocumentStatus
    version: int
    chunk_count: int
    embedding_model: str | None
    error: str | None = Field(description="The last processing error, if any.")
    created_at: datetime
    updated_at: datetime
    indexed_at: datetime | None


class DocumentPage(BaseModel):
    documents: list[Document]
    total: int


class ReprocessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["failed", "all"] = "failed"


class ReprocessResult(BaseModel):
    queued: int
    document_ids: list[UUID]


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=2000)
    k: int | None = Field(default=None, ge=1)


class SearchHit(BaseModel):
    document_id: UUID
    title: str
    chunk_id: UUID
    text: str
    score: float = Field(description="Fused rank score: 1.0 is first in both rankings.")
    similarity: float | None = Field(description="Cosine similarity of the vector match.")
    keyword_match: float = Field(description="Share of the query's terms found in the chunk.")


class SearchResponse(BaseModel):
    results: list[SearchHit]
