"""HTTP routes of the embed function (mounted under /embed)."""

import os
import socket
import uuid
from pathlib import PurePath
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from functions._shared.app import AppSettings
from functions._shared.auth import AdminOrService, AgentUser, StaffOrService
from functions._shared.db.pool import DbPool, Tx, get_pool
from functions._shared.errors import PROBLEM_CONTENT_TYPE, InvalidInput, PayloadTooLarge
from functions._shared.kb.runtime import KnowledgeBase
from functions._shared.settings import Settings
from functions.embed import service
from functions.embed.extract import UnsupportedMediaType, extract_text
from functions.embed.schemas import (
    Document,
    DocumentAccepted,
    DocumentCreate,
    DocumentPage,
    ReprocessRequest,
    ReprocessResult,
    SearchRequest,
    SearchResponse,
)

router = APIRouter(tags=["embed"])

# Identifies this process as a job owner in leases (several processes, several machines).
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
_MULTIPART_OVERHEAD_BYTES = 64 * 1024


async def get_knowledge_base(request: Request) -> KnowledgeBase:
    knowledge_base: KnowledgeBase = request.app.state.knowledge_base
    return knowledge_base


KB = Annotated[KnowledgeBase, Depends(get_knowledge_base)]
Pool = Annotated[DbPool, Depends(get_pool)]

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {PROBLEM_CONTENT_TYPE: {}}}
    for status, description in {
        401: "Missing or invalid token.",
        403: "Wrong role.",
        404: "No such document.",
        413: "The upload is larger than KB_MAX_UPLOAD_BYTES.",
        415: "Unsupported file type or request content type.",
        422: "Invalid input (empty text, title too long, unreadable file).",
    }.items()
}
_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DocumentCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A .txt, .md, .html or .pdf file.",
                        },
                        "title": {"type": "string"},
                        "source_url": {"type": "string", "format": "uri"},
                    },
                }
            },
        },
    }
}


async def _json_document(request: Request) -> DocumentCreate:
    try:
        return DocumentCreate.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_input=False)) from error


async def _uploaded_file(request: Request, settings: Settings) -> tuple[str, bytes, Any, Any]:
    """(filename, bytes, title, source_url) of a multipart upload, within the size limit."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > settings.kb_max_upload_bytes + _MULTIPART_OVERHEAD_BYTES:
        raise PayloadTooLarge(f"Uploads are limited to {settings.kb_max_upload_bytes} bytes.")
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("A multipart upload needs a `file` part.", code="missing_file")
        if (upload.size or 0) > settings.kb_max_upload_bytes:
            raise PayloadTooLarge(f"Uploads are limited to {settings.kb_max_upload_bytes} bytes.")
        filename = PurePath(upload.filename).name
        return filename, await upload.read(), form.get("title"), form.get("source_url")


@router.post(
    "/documents",
    status_code=202,
    response_model=DocumentAccepted,
    responses=_PROBLEMS,
    openapi_extra=_CREATE_BODY,
)
async def create_document(
    request: Request,
    tx: Tx,
    principal: AdminOrService,
    settings: AppSettings,
    kb: KB,
    pool: Pool,
    background: BackgroundTasks,
) -> DocumentAccepted:
    """Add a document from JSON or an uploaded file; indexing continues in the background."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        filename, data, title, source_url = await _uploaded_file(request, settings)
        extracted = extract_text(filename, data)
        accepted = await service.create_document(
            tx,
            settings=settings,
            title=str(title or extracted.title_hint or PurePath(filename).stem),
            content=extracted.text,
            content_type=extracted.content_type,
            source_url=str(source_url) if source_url else None,
            source_filename=filename,
        )
    elif media_type == "application/json":
        body = await _json_document(request)
        accepted = await service.create_document(
            tx,
            settings=settings,
            title=body.title,
            content=body.content,
            content_type="text/markdown",
            source_url=str(body.source_url) if body.source_url else None,
            metadata=body.metadata,
        )
    else:
        raise UnsupportedMediaType("Send application/json or multipart/form-data.")
    if accepted.job_id is not None:
        background.add_task(service.run_job, pool, kb=kb, owner=WORKER_ID, job_id=accepted.job_id)
    return accepted


@router.get("/documents", response_model=DocumentPage, responses=_PROBLEMS)
async def list_documents(
    tx: Tx,
    principal: StaffOrService,
    status: Literal["queued", "processing", "ready", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    # Bounded: Postgres takes a bigint, and nobody pages a million documents deep.
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> DocumentPage:
    return await service.list_documents(tx, status=status, limit=limit, offset=offset)


@router.get("/documents/{document_id}", response_model=Document, responses=_PROBLEMS)
async def get_document(document_id: UUID, tx: Tx, principal: StaffOrService) -> Document:
    return await service.get_document(tx, document_id=document_id)


@router.delete("/documents/{document_id}", status_code=204, responses=_PROBLEMS)
async def delete_document(
    document_id: UUID, tx: Tx, principal: AdminOrService, kb: KB, background: BackgroundTasks
) -> Response:
    removed = await service.delete_document(tx, document_id=document_id)
    background.add_task(kb.vectors.delete, removed)
    return Response(status_code=204)


def _run_jobs_after_response(
    background: BackgroundTasks, pool: DbPool, kb: KnowledgeBase, count: int
) -> None:
    if count:
        background.add_task(service.run_due_jobs, pool, kb=kb, owner=WORKER_ID, limit=count)


@router.post(
    "/documents/{document_id}/reprocess",
    status_code=202,
    response_model=ReprocessResult,
    responses=_PROBLEMS,
)
async def reprocess_document(
    document_id: UUID,
    tx: Tx,
    principal: AdminOrService,
    settings: AppSettings,
    kb: KB,
    pool: Pool,
    background: BackgroundTasks,
) -> ReprocessResult:
    result = await service.reprocess_document(tx, settings=settings, document_id=document_id)
    _run_jobs_after_response(background, pool, kb, result.queued)
    return result


@router.post("/reprocess", status_code=202, response_model=ReprocessResult, responses=_PROBLEMS)
async def reprocess_documents(
    tx: Tx,
    principal: AdminOrService,
    settings: AppSettings,
    kb: KB,
    pool: Pool,
    background: BackgroundTasks,
    body: ReprocessRequest | None = None,
) -> ReprocessResult:
    """Re-embed every failed document (`scope: failed`, the default) or all of them."""
    scope = body.scope if body is not None else "failed"
    result = await service.reprocess_documents(tx, settings=settings, only_failed=scope == "failed")
    _run_jobs_after_response(background, pool, kb, result.queued)
    return result


@router.post("/search", response_model=SearchResponse, responses=_PROBLEMS)
async def search(body: SearchRequest, principal: AgentUser, kb: KB, pool: Pool) -> SearchResponse:
    async with pool.acquire() as connection:
        hits = await service.search(connection, kb=kb, query=body.query, k=body.k)
    return SearchResponse(results=hits)
