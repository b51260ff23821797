"""APScheduler in the gateway: one interval job per sweep, on every instance.

APScheduler 3 cannot coordinate processes, and need not: every sweep claims its rows with
``FOR UPDATE SKIP LOCKED``, so N instances sweeping at once still produce each effect once.
``coalesce`` and ``max_instances=1`` keep one instance from piling runs of a slow sweep.
"""

import asyncio
from typing import Any

import structlog

from functions._shared.db.pool import DbPool
from functions._shared.settings import Settings
from functions.timeouts.service import run_sweep

logger = structlog.get_logger(__name__)


class SweepScheduler:
    def __init__(self, pool: DbPool, *, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self._scheduler: Any = None
        self._running: set[asyncio.Task[Any]] = set()

    def intervals(self) -> dict[str, float]:
        settings = self._settings
        return {
            "approvals": settings.sweep_approvals_interval_seconds,
            "turns": settings.sweep_turns_interval_seconds,
            "conversations": settings.sweep_conversations_interval_seconds,
            "jobs": settings.sweep_jobs_interval_seconds,
            "callbacks": settings.sweep_callbacks_interval_seconds,
            "retention": settings.sweep_retention_interval_seconds,
        }

    def start(self) -> None:
        # Imported here: it is not needed to import the app, whose start-up time is measured.
        from apscheduler.schedulers.asyncio import AsyncIOScheduler  # noqa: PLC0415

        scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        )
        for name, seconds in self.intervals().items():
            scheduler.add_job(self._run, "interval", seconds=seconds, args=[name], id=name)
        scheduler.start()
        self._scheduler = scheduler
        logger.info("scheduler_started", sweeps=list(self.intervals()))

    async def _run(self, name: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await run_sweep(name, self._pool, self._settings)
        # A down database must not stop the schedule: the next tick retries, and the sweep's
        # transactions rolled back, so nothing is half-done.
        except Exception as error:
            logger.warning("sweep_failed", sweep=name, error=f"{type(error).__name__}: {error}")
        finally:
            self._running.discard(task)

    async def stop(self, *, timeout_seconds: float = 10) -> None:
        """No new runs; a sweep already running finishes its current item (bounded)."""
        if self._scheduler is None:
            return
        running = set(self._running)
        # APScheduler's asyncio executor would cancel running sweeps on shutdown: let them end
        # their item first, then shut down with nothing left to cancel.
        self._scheduler.pause()
        if running:
            await asyncio.wait(running, timeout=timeout_seconds)
        self._scheduler.shutdown(wait=False)
        self._scheduler = None
        logger.info("scheduler_stopped")
