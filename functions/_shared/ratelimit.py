"""Fixed-window rate limits counted in the database, so every instance shares them."""

import math

from functions._shared.db.pool import DbConnection, DbPool
from functions._shared.errors import RateLimited


async def hit_rate_limit(
    database: DbPool | DbConnection,
    *,
    key: str,
    limit: int,
    window_seconds: int = 60,
    what: str = "requests",
) -> None:
    """Count one hit on ``key``; past ``limit`` in the current window, raise ``RateLimited``.

    Run it outside the request's transaction: a refused request rolls that back, and the
    count must stay.
    """
    row = await database.fetchrow(
        """
        with window_start as (
            select to_timestamp(floor(extract(epoch from now()) / $2) * $2) as at
        ), counted as (
            insert into rate_limit_windows (key, window_start, hits)
            select $1, at, 1 from window_start
            on conflict (key, window_start)
                do update set hits = rate_limit_windows.hits + 1
            returning hits, window_start
        )
        select hits,
               extract(epoch from window_start + make_interval(secs => $2) - now()) as remaining
        from counted
        """,
        key,
        window_seconds,
    )
    assert row is not None  # an upsert always returns its row
    if row["hits"] > limit:
        raise RateLimited(
            f"Too many {what}: at most {limit} per {window_seconds} seconds.",
            retry_after_seconds=max(1, math.ceil(float(row["remaining"]))),
        )
