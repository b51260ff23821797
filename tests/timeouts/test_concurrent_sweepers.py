"""Four separate processes sweeping one database at once: every effect exactly once."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from functions._shared.hitl.texts import Notice, customer_text
from functions.timeouts.standalone import scheduled_handler
from tests.conftest import REPO_ROOT, connected, database_of_its_own

CCOS = str(Path(sys.executable).parent / "ccos")
DUE_APPROVALS = 1000

SEED = """
with conversations_made as (
    insert into conversations (status)
    select 'pending_human' from generate_series(1, $1)
    returning id
)
insert into approvals (kind, conversation_id, reasons, requester_id, requester_role,
                       draft, escalation_level, deadline_at)
select 'reply', id, '{low_grounding}', 'assistant', 'assistant', '초안', 2,
       now() - interval '1 second'
from conversations_made
"""


async def test_four_processes_expire_a_thousand_approvals_exactly_once(
    server_uri: str, tmp_path: Path
) -> None:
    async with (
        database_of_its_own(server_uri, "ccos_sweepers") as url,
        connected(url) as connection,
    ):
        await connection.execute(SEED, DUE_APPROVALS)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DATA_DIR": str(tmp_path),
            "APPROVAL_ESCALATION_LADDER_SECONDS": "[300, 600]",
            "SWEEP_BATCH_SIZE": str(DUE_APPROVALS),
            "LOG_LEVEL": "WARNING",
        }
        sweepers = [
            await asyncio.create_subprocess_exec(
                CCOS,
                "timeouts",
                "sweep",
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(4)
        ]
        outputs = [await sweeper.communicate() for sweeper in sweepers]

        expired = await connection.fetchval(
            "select count(*) from approvals where status = 'expired'"
        )
        decided = await connection.fetchval(
            "select count(*) from approval_audit where event = 'decided'"
        )
        notices = await connection.fetchval(
            "select count(*) from messages where content = $1",
            customer_text(Notice.EXPIRED, override_dir=None),
        )
        doubled = await connection.fetchval(
            "select count(*) from (select conversation_id from messages group by conversation_id"
            " having count(*) > 1) doubled"
        )
        events = await connection.fetchval(
            "select count(*) from event_outbox"
            " where type = 'approval.expired' and topic = 'approvals'"
        )

    assert [sweeper.returncode for sweeper in sweepers] == [0, 0, 0, 0], outputs
    # Each process printed its share; together they did every approval once.
    shares = [int(stdout.decode().split("expired ")[1].split()[0]) for stdout, _ in outputs]
    assert sum(shares) == DUE_APPROVALS, shares
    assert all(b"error" not in stderr.lower() for _, stderr in outputs), outputs
    assert (expired, decided, notices, events, doubled) == (DUE_APPROVALS,) * 4 + (0,)


def test_scheduled_event_handler_runs_every_sweep() -> None:
    report = scheduled_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, None)

    assert list(report) == [
        "approvals",
        "turns",
        "conversations",
        "jobs",
        "callbacks",
        "retention",
    ]
