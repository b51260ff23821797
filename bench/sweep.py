"""The approval sweep under concurrency: N due approvals expired by P `ccos timeouts sweep`
processes at once; approvals/s and proof that each was expired exactly once.

    .venv/bin/python bench/sweep.py [--approvals 10000] [--processes 4]
"""

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import asyncpg
from _support import REPO_ROOT, fresh_database

CCOS = str(REPO_ROOT / ".venv" / "bin" / "ccos")
SEED = """
with conversations_made as (
    insert into conversations (status) select 'pending_human' from generate_series(1, $1)
    returning id
)
insert into approvals (kind, conversation_id, reasons, requester_id, requester_role, draft,
                       escalation_level, deadline_at)
select 'reply', id, '{low_grounding}', 'assistant', 'assistant', '초안', 2,
       now() - interval '1 second'
from conversations_made
"""


async def run(approvals: int, processes: int) -> dict[str, object]:
    async with fresh_database("bench_sweep") as url:
        connection = await asyncpg.connect(url)
        await connection.execute(SEED, approvals)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DATA_DIR": tempfile.mkdtemp(prefix="ccos-sweep-"),
            "APPROVAL_ESCALATION_LADDER_SECONDS": "[300, 600]",
            "SWEEP_BATCH_SIZE": str(approvals),
            "LOG_LEVEL": "WARNING",
        }
        started = time.perf_counter()
        sweepers = [
            await asyncio.create_subprocess_exec(
                CCOS,
                "timeouts",
                "sweep",
                cwd=REPO_ROOT,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(processes)
        ]
        outputs = [await sweeper.communicate() for sweeper in sweepers]
        seconds = time.perf_counter() - started
        expired = await connection.fetchval(
            "select count(*) from approvals where status = 'expired'"
        )
        decided = await connection.fetchval(
            "select count(*) from approval_audit where event = 'decided'"
        )
        notices = await connection.fetchval(
            "select count(*) from messages where role = 'system' and approval_id is not null"
        )
        await connection.close()
    failures = [
        stderr.decode()[-500:]
        for sweeper, (_, stderr) in zip(sweepers, outputs, strict=True)
        if sweeper.returncode
    ]
    return {
        "approvals": approvals,
        "processes": processes,
        "seconds": round(seconds, 2),
        "approvals_per_second": round(approvals / seconds),
        "expired": expired,
        "notices": notices,
        "duplicates": (decided - approvals) + (notices - approvals),
        "failed_processes": failures,
        "note": "wall time includes starting the processes (about 1 s each, in parallel)",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--approvals", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=4)
    arguments = parser.parse_args()
    result = asyncio.run(run(arguments.approvals, arguments.processes))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    Path(REPO_ROOT / "bench" / "results" / "sweep.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
