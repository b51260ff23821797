"""HTTP routes of the timeouts function (mounted under /timeouts)."""

import time
from typing import Any

from fastapi import APIRouter

from functions._shared.app import AppSettings
from functions._shared.auth import AdminOrService
from functions._shared.db.pool import Pool
from functions._shared.errors import PROBLEM_CONTENT_TYPE
from functions.timeouts.schemas import SweepReport
from functions.timeouts.service import run_all_sweeps

router = APIRouter(tags=["timeouts"])

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {PROBLEM_CONTENT_TYPE: {}}}
    for status, description in {
        401: "Missing or invalid token.",
        403: "Wrong role.",
        503: "The database is unavailable.",
    }.items()
}


@router.post("/sweep", responses=_PROBLEMS)
async def sweep_now(principal: AdminOrService, pool: Pool, settings: AppSettings) -> SweepReport:
    """Run every sweep once now (ops reprocessing); safe beside the scheduler's own runs."""
    started = time.monotonic()
    counts = await run_all_sweeps(pool, settings)
    return SweepReport(**counts, duration_ms=round((time.monotonic() - started) * 1000, 1))
