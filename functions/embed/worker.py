"""The gateway's embed worker: requeues jobs whose worker died (their lease ran out), runs jobs
that are due but not running (retries after a failure, requeued jobs), and fails documents
whose last job failed. The timeouts sweep requeues stale jobs too; doing it here as well means a
crash is recovered even where no sweep runs."""

import asyncio

import structlog

from functions._shared.db.pool import DbPool
from functions._shared.jobs import requeue_stale_jobs
from functions._shared.kb.runtime import KnowledgeBase
from functions.embed.service import fail_documents_of_failed_jobs, run_due_jobs

logger = structlog.get_logger(__name__)

JOBS_PER_ROUND = 20


class EmbedWorker:
    def __init__(self, pool: DbPool, *, kb: KnowledgeBase, owner: str, poll_seconds: float) -> None:
        self.pool = pool
        self.kb = kb
        self.owner = owner
        self.poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="embed-worker")

    async def stop(self, *, timeout_seconds: float = 10.0) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        # Bounded: a stop must never hold up the process's shutdown.
        done, _ = await asyncio.wait({task}, timeout=timeout_seconds)
        if not done:
            logger.warning("embed_worker_did_not_stop", timeout_seconds=timeout_seconds)

    async def run_once(self) -> int:
        async with self.pool.acquire() as connection:
            await requeue_stale_jobs(connection)
        await fail_documents_of_failed_jobs(self.pool)
        return await run_due_jobs(self.pool, kb=self.kb, owner=self.owner, limit=JOBS_PER_ROUND)

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as error:  # keep the loop alive; the next round retries
                logger.warning("embed_worker_round_failed", error=type(error).__name__)
            await asyncio.sleep(self.poll_seconds)
