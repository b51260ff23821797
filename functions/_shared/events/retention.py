"""Outbox retention: the replay window is also how long events are kept."""

from datetime import UTC, datetime, timedelta

from functions._shared.db.pool import DbPool, transaction
from functions._shared.events.outbox import delete_events_before
from functions._shared.settings import Settings


async def prune_outbox(pool: DbPool, *, settings: Settings, now: datetime | None = None) -> int:
    """Delete sequenced events older than ``EVENTS_RETENTION_HOURS``; returns how many."""
    cutoff = (now or datetime.now(UTC)) - timedelta(hours=settings.events_retention_hours)
    async with transaction(pool) as connection:
        return await delete_events_before(
            connection,
            cutoff=cutoff,
            require_published=settings.realtime_broadcast_url is not None,
        )
