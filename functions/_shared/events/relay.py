"""The per-process relay: LISTEN for new events, sequence them, fan them out to the hub.

LISTEN runs on a dedicated direct connection (Supavisor's transaction pooler cannot carry it);
sequencing and reads go through the pool. A poll every ``EVENTS_POLL_SECONDS`` covers a lost
notification or a dropped listener connection, which is re-opened with backoff.
"""

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg
import structlog

from functions._shared.db.pool import DbPool
from functions._shared.errors import DATABASE_ERRORS, DATABASE_UNAVAILABLE_ERRORS
from functions._shared.events.hub import EventHub
from functions._shared.events.outbox import (
    NOTIFY_CHANNEL,
    SEQUENCED_PAYLOAD,
    frames_after,
    last_sequenced,
    sequence_ready_events,
)

logger = structlog.get_logger(__name__)

FETCH_BATCH = 1000
MAX_RECONNECT_DELAY_SECONDS = 30.0


class EventRelay:
    def __init__(
        self,
        *,
        pool: DbPool,
        listen_dsn: str,
        hub: EventHub,
        poll_seconds: float,
        on_sequenced: Callable[[], None] | None = None,
    ) -> None:
        self.pool = pool
        self.listen_dsn = listen_dsn
        self.hub = hub
        self.poll_seconds = poll_seconds
        self.on_sequenced = on_sequenced
        self._wake = asyncio.Event()
        # The backend that last sequenced for this relay: its 'sequenced' notification is news
        # to other processes only (this relay read those events in the same pass).
        self._sequenced_by_pid: int | None = None
        self._listener: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async with self.pool.acquire() as connection:
            self.hub.last_seq = await last_sequenced(connection)
        await self._connect_listener()
        self._task = asyncio.create_task(self._run(), name="event-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            # Cancelled in the middle of a query on a connection the database had dropped,
            # giving it back to the pool can fail instead: stopping must still finish.
            except DATABASE_UNAVAILABLE_ERRORS as error:
                logger.warning("event_relay_stopped_with_error", error=type(error).__name__)
        await self._close_listener()
        self.hub.close_all()

    def wake(self) -> None:
        self._wake.set()

    def _on_notify(self, _connection: object, pid: int, _channel: str, payload: object) -> None:
        if payload == SEQUENCED_PAYLOAD and pid == self._sequenced_by_pid:
            return
        self._wake.set()

    async def _connect_listener(self) -> bool:
        try:
            self._listener = await asyncpg.connect(self.listen_dsn, statement_cache_size=0)
            await self._listener.add_listener(NOTIFY_CHANNEL, self._on_notify)
        except DATABASE_ERRORS as error:
            logger.warning("event_listener_unavailable", error=type(error).__name__)
            self._listener = None
            return False
        return True

    async def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)
            self._listener = None

    async def _run(self) -> None:
        failures = 0
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the wait ends, and stop() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            self._wake.clear()
            try:
                if self._listener is None or self._listener.is_closed():
                    await self._close_listener()
                    await self._connect_listener()
                await self.relay_once()
                failures = 0
            except DATABASE_ERRORS as error:
                failures += 1
                delay = min(MAX_RECONNECT_DELAY_SECONDS, self.poll_seconds * 2**failures)
                logger.warning("event_relay_failed", error=type(error).__name__, retry_in=delay)
                await asyncio.sleep(delay)

    async def relay_once(self) -> int:
        """Sequence what is ready and fan out everything past the hub's last seq."""
        delivered = 0
        async with self.pool.acquire() as connection:
            if await sequence_ready_events(connection):
                self._sequenced_by_pid = connection.get_server_pid()
                if self.on_sequenced is not None:
                    self.on_sequenced()
            if not self.hub.stream_count:
                # Nobody here to deliver to: only move the mark a new stream starts live from.
                last_seq = await last_sequenced(connection)
                if not self.hub.stream_count:  # checked again: a stream may have begun
                    self.hub.last_seq = max(self.hub.last_seq, last_seq)
                    return 0
            while True:
                frames = await frames_after(
                    connection, after_seq=self.hub.last_seq, limit=FETCH_BATCH
                )
                if frames:
                    self.hub.publish(frames)
                    delivered += len(frames)
                if len(frames) < FETCH_BATCH:  # all there was; newer ones notify again
                    return delivered
