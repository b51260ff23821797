"""Liveness and readiness, for Fly's checks and for humans."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from functions._shared.app import AppSettings
from functions._shared.db.pool import Pool, check_database
from functions._shared.errors import PROBLEM_CONTENT_TYPE

router = APIRouter(tags=["health"])

_PROBLEM_503: dict[int | str, dict[str, Any]] = {
    503: {"description": "The database is not answering.", "content": {PROBLEM_CONTENT_TYPE: {}}}
}


class HealthStatus(BaseModel):
    status: str


@router.get("/healthz", response_model=HealthStatus)
async def healthz() -> HealthStatus:
    return HealthStatus(status="ok")


@router.get("/readyz", response_model=HealthStatus, responses=_PROBLEM_503)
async def readyz(pool: Pool, settings: AppSettings) -> HealthStatus:
    await check_database(pool, timeout_seconds=settings.readiness_timeout_seconds)
    return HealthStatus(status="ready")
