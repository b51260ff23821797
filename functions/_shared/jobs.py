"""Durable jobs: enqueue in the caller's transaction, claim with a lease, finish exactly once.

A worker claims a queued job (``FOR UPDATE SKIP LOCKED``), which takes a lease. While it works it
may renew the lease; it finishes (or fails) only while it still holds it, so a worker that
stalled past its lease and lost the job to another cannot also finish it. A worker that died
leaves a lease that runs out: ``requeue_stale_jobs`` puts such jobs back in the queue, or fails
them once their attempts are spent.
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from functions._shared.db.pool import DbConnection

_JOB_COLUMNS = "id, kind, subject_id, status, attempts, max_attempts, lease_owner, last_error"


@dataclass(frozen=True)
class Job:
    id: UUID
    kind: str
    subject_id: UUID
    status: str
    attempts: int
    max_attempts: int
    lease_owner: str | None
    last_error: str | None


def _job(row: asyncpg.Record) -> Job:
    return Job(**dict(row))


async def enqueue_job(
    tx: DbConnection, *, kind: str, subject_id: UUID, max_attempts: int
) -> tuple[Job, bool]:
    """Queue a job, or join the live one for the same subject; returns (job, created)."""
    row = await tx.fetchrow(
        f"insert into jobs (kind, subject_id, max_attempts) values ($1, $2, $3) "
        f"on conflict (kind, subject_id) where status in ('queued', 'running') do nothing "
        f"returning {_JOB_COLUMNS}",
        kind,
        subject_id,
        max_attempts,
    )
    if row is not None:
        return _job(row), True
    live = await tx.fetchrow(
        f"select {_JOB_COLUMNS} from jobs where kind = $1 and subject_id = $2 "
        "and status in ('queued', 'running')",
        kind,
        subject_id,
    )
    assert live is not None
    return _job(live), False


async def claim_job(
    connection: DbConnection,
    *,
    kind: str,
    owner: str,
    lease_seconds: float,
    job_id: UUID | None = None,
) -> Job | None:
    """Take the next due job of ``kind`` (or exactly ``job_id``) and hold a lease on it."""
    row = await connection.fetchrow(
        f"""
        update jobs set status = 'running', attempts = attempts + 1, lease_owner = $2,
            lease_expires_at = clock_timestamp() + make_interval(secs => $3),
            updated_at = clock_timestamp()
        where id = (
            select id from jobs
            where kind = $1 and status = 'queued' and run_after <= clock_timestamp()
              and ($4::uuid is null or id = $4)
            order by run_after
            for update skip locked
            limit 1
        )
        returning {_JOB_COLUMNS}
        """,
        kind,
        owner,
        lease_seconds,
        job_id,
    )
    return None if row is None else _job(row)


async def renew_lease(
    connection: DbConnection, *, job_id: UUID, owner: str, lease_seconds: float
) -> bool:
    renewed = await connection.fetchval(
        "update jobs set lease_expires_at = clock_timestamp() + make_interval(secs => $3), "
        "updated_at = clock_timestamp() "
        "where id = $1 and lease_owner = $2 and status = 'running' returning true",
        job_id,
        owner,
        lease_seconds,
    )
    return bool(renewed)


async def complete_job(tx: DbConnection, *, job_id: UUID, owner: str) -> bool:
    """Mark the job done if ``owner`` still holds it. False: the lease was lost; the caller's
    transaction must then roll back its work (another worker owns the job now)."""
    done = await tx.fetchval(
        "update jobs set status = 'succeeded', lease_owner = null, lease_expires_at = null, "
        "finished_at = clock_timestamp(), updated_at = clock_timestamp(), last_error = null "
        "where id = $1 and lease_owner = $2 and status = 'running' returning true",
        job_id,
        owner,
    )
    return bool(done)


async def fail_job(
    tx: DbConnection, *, job_id: UUID, owner: str, error: str, retry_in_seconds: float
) -> Job | None:
    """Record a failed attempt: back to the queue after a delay, or ``failed`` when attempts are
    spent. None when ``owner`` no longer holds the job."""
    row = await tx.fetchrow(
        f"""
        update jobs set
            status = case when attempts >= max_attempts then 'failed' else 'queued' end,
            run_after = clock_timestamp() + make_interval(secs => $4),
            finished_at = case when attempts >= max_attempts then clock_timestamp() end,
            lease_owner = null, lease_expires_at = null, last_error = $3,
            updated_at = clock_timestamp()
        where id = $1 and lease_owner = $2 and status = 'running'
        returning {_JOB_COLUMNS}
        """,
        job_id,
        owner,
        error[:2000],
        retry_in_seconds,
    )
    return None if row is None else _job(row)


async def cancel_jobs(tx: DbConnection, *, subject_id: UUID) -> int:
    result: str = await tx.execute(
        "update jobs set status = 'cancelled', lease_owner = null, lease_expires_at = null, "
        "finished_at = clock_timestamp(), updated_at = clock_timestamp() "
        "where subject_id = $1 and status in ('queued', 'running')",
        subject_id,
    )
    return int(result.rsplit(maxsplit=1)[-1])


async def requeue_stale_jobs(connection: DbConnection, *, now: datetime | None = None) -> int:
    """Requeue running jobs whose lease ran out (their worker died or stalled); fail those
    whose attempts are spent. Safe to run from any number of processes at once."""
    result: str = await connection.execute(
        """
        update jobs set
            status = case when attempts >= max_attempts then 'failed' else 'queued' end,
            finished_at = case when attempts >= max_attempts then clock_timestamp() end,
            last_error = 'lease expired: the worker stopped before finishing',
            lease_owner = null, lease_expires_at = null, run_after = clock_timestamp(),
            updated_at = clock_timestamp()
        where id in (
            select id from jobs
            where status = 'running' and lease_expires_at < coalesce($1, clock_timestamp())
            for update skip locked
        )
        """,
        now,
    )
    return int(result.rsplit(maxsplit=1)[-1])
