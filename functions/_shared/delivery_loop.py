"""A background loop that sends over HTTP what the database holds (Realtime broadcasts,
approval callbacks): one pass, then a wait for the interval or a ``wake()``; a failed pass is
logged and the loop goes on; ``stop()`` ends it cleanly and closes the client it made.

It runs beside the requests that write the rows and never inside them, so a slow or down
receiver delays delivery but never a request.
"""

import asyncio
import contextlib

import httpx
import structlog

from functions._shared.db.pool import DbPool
from functions._shared.outbound_http import async_client
from functions._shared.settings import Settings

logger = structlog.get_logger(__name__)


class DeliveryLoop:
    task_name = "delivery-loop"
    failure_event = "delivery_pass_failed"

    def __init__(
        self, pool: DbPool, *, settings: Settings, client: httpx.AsyncClient | None = None
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._client = client
        self._owns_client = client is None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def deliver_once(self, client: httpx.AsyncClient) -> bool:
        """One pass; True when more is due already (the next pass starts without waiting)."""
        raise NotImplementedError

    def interval_seconds(self) -> float:
        raise NotImplementedError

    def new_client(self) -> httpx.AsyncClient:
        return async_client()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        if self._client is None:
            self._client = self.new_client()
        self._task = asyncio.create_task(self._run(self._client), name=self.task_name)

    def wake(self) -> None:
        """Deliver now rather than at the next tick."""
        self._wake.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                # Our own cancellation of the loop; re-raise only if stop() itself was cancelled.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self, client: httpx.AsyncClient) -> None:
        while True:
            # Cleared before the pass: a wake() that arrives mid-pass starts the next one.
            self._wake.clear()
            try:
                more = await self.deliver_once(client)
            except Exception:
                # A database outage or a bug must not end delivery for the life of the process.
                logger.exception(self.failure_event)
                more = False
            if more:
                continue
            # asyncio.timeout, not wait_for: wait_for can swallow a cancellation on 3.11.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_seconds()):
                    await self._wake.wait()
