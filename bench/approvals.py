"""Approval decisions under load: agents working a queue of pending approvals.

A fresh migrated database is seeded in SQL with `--approvals` pending approvals, shaped like the
ones the chat and external agents open: mostly `reply` approvals on conversations waiting for a
person (the customer's message, the hand-over notice, a draft citing the KB), some actions the
assistant proposes, and some external agents' actions with a `callback_url` (port 9: the
callback sender's POSTs are refused, and retried, as a receiver that is down would be). Each
approval has its `created` audit entry; deadlines are spread over the next hour.

The gateway runs as its own process (`ccos serve`, `--workers` processes, a pool of 20 each).
`--agents` agents (asyncio tasks, each with its own token and keep-alive connection) each
repeat: GET /approve/approvals?limit=20 (nearest deadline first), pick an approval nobody has
claimed, POST .../claim, then POST .../decision: approve 60%, edit 25% (Korean text), reject
15%; an action, which cannot be edited, is approved instead. A 409 (another agent was first)
is counted apart from errors (any other non-2xx). First a sequential warm-up of `--warm-up`
decisions, left out of the figures (its p50s are shown apart: what a request costs unqueued);
then the run lasts until `--decisions` decisions have succeeded.

Reported: decisions/s (successful decisions / wall time of the run), decision latency
p50/p95/p99 (and claim and queue latency apart), 409s, errors, and the CPU seconds per
decision of the gateway, its Postgres backends and this client, which say where the time went.

    .venv/bin/python bench/approvals.py [--approvals 10000] [--agents 20] [--decisions 3000]
                                        [--warm-up 50] [--quick]

`--quick`: 1,000 approvals, 200 decisions; prints only. A full run also writes
bench/results/approvals.json.

Targets (issue): >= 300 decisions/s and decision p99 <= 100 ms, 10k pending, 20 agents.
"""

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import uvloop

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))

from bench._http import HttpConnection  # noqa: E402
from bench._measure import (  # noqa: E402
    free_port,
    machine_busy_percent,
    machine_cpu_seconds,
    percentile_ms,
    process_cpu_seconds,
    tree_cpu_seconds,
)
from bench._support import (  # noqa: E402
    fresh_database,
    log_tail,
    reference_loop_ms,
    start_gateway,
    stop_process,
    wait_ready,
)
from functions._shared.auth.tokens import Role, mint_token  # noqa: E402
from functions._shared.settings import Settings  # noqa: E402

RESULTS = BENCH_DIR / "results" / "approvals.json"
TARGET_DECISIONS_PER_SECOND = 300.0
TARGET_P99_MS = 100.0
QUEUE_PAGE = 20
REQUEST_TIMEOUT_SECONDS = 30.0
MAX_ERRORS = 100  # past this the run is broken, not slow: stop rather than spin
# Refused at once on loopback: the callback sender records a failed attempt and retries later.
DEAD_CALLBACK_URL = "http://127.0.0.1:9/hook"
# Decisions by weight; `edit` on an action (not editable) becomes `approve`.
DECISION_WEIGHTS = {"approve": 60, "edit": 25, "reject": 15}
EDITED_REPLIES = (
    "안녕하세요, 고객님. 주문하신 상품은 오늘 출고되어 내일 오후까지 도착할 예정입니다 [1].",
    "불편을 드려 죄송합니다. 환불은 반품 상품이 입고된 뒤 영업일 기준 3일 안에 처리됩니다 [1].",
    "교환 신청은 마이페이지 > 주문 내역에서 하실 수 있어요. 회수 기사님이 2일 안에 방문합니다.",
    "확인해 보니 제주·도서산간 지역은 추가 배송비 3,000원이 붙습니다 [1]. 양해 부탁드립니다.",
)

# One statement per table, all from one numbered series: mix by number, deadlines at random
# (setseed makes them the same every run), times within the last ten minutes.
SEED_SQL = """
select setseed(0.42);

create temp table seed on commit drop as
select n,
       case when n % 100 < 80 then 'reply'
            when n % 100 < 92 then 'assistant_action'
            else 'external_action' end as variant,
       gen_random_uuid() as conversation_id,
       gen_random_uuid() as message_id,
       gen_random_uuid() as approval_id,
       now() - interval '10 minutes' + n * interval '10 minutes' / $1::int as created_at,
       now() + interval '30 seconds' + random() * interval '1 hour' as deadline_at,
       $2::text as callback_url,
       $3::text as notice
from generate_series(1, $1::int) as n;

insert into conversations
    (id, status, customer_name, customer_external_id, created_at, updated_at, last_activity_at)
select conversation_id, 'pending_human', '고객' || n, 'cust-' || n, created_at, created_at,
       created_at
from seed where variant <> 'external_action';

-- Each customer message carries its turn's stored result (routed to the approval), as a real
-- turn leaves it; without one the `turns` sweep would take it for a turn cut off mid-way.
insert into messages (id, conversation_id, role, content, client_message_id, created_at, turn)
select message_id, conversation_id, 'customer', content, 'seed-' || n, created_at,
       jsonb_build_object(
           'message', jsonb_build_object('id', message_id, 'role', 'customer',
                                         'content', content, 'created_at', created_at,
                                         'citations', '[]'::jsonb),
           'reply', null,
           'approval', jsonb_build_object('id', approval_id, 'status', 'pending',
                                          'deadline_at', deadline_at),
           'handoff', jsonb_build_object('conversation_status', 'pending_human',
                                         'notice', null))
from (select *, (array['주문한 상품이 아직 안 왔어요. 언제 도착하나요?',
                       '환불 신청했는데 언제 입금되나요? 주문번호 A-2026-' || n,
                       '사이즈가 안 맞아서 교환하고 싶어요.',
                       '제주도인데 배송비가 따로 있나요?'])[n % 4 + 1] as content
      from seed where variant <> 'external_action') as customer;

insert into approvals
    (id, kind, conversation_id, source_message_id, draft, draft_citations, action, summary,
     reasons, requester_id, requester_role, callback_url, idempotency_key, request_hash,
     deadline_at, created_at, updated_at)
select approval_id,
       case when variant = 'reply' then 'reply' else 'action' end,
       case when variant <> 'external_action' then conversation_id end,
       case when variant <> 'external_action' then message_id end,
       case when variant = 'reply' then
           (array['주문하신 상품은 영업일 기준 2~3일 안에 도착합니다 [1].',
                  '환불은 반품 확인 후 영업일 기준 3~5일 안에 결제 수단으로 돌려드립니다 [1][2].',
                  '교환은 상품 수령 후 7일 안에 신청하실 수 있습니다 [1].',
                  '제주 및 도서산간 지역은 추가 배송비가 발생합니다 [2].'])[n % 4 + 1]
       end,
       case when variant = 'reply' then jsonb_build_array(
           jsonb_build_object('document_id', '6f1d1a52-3b0e-4c55-9a43-0d1c5b1f0a01',
                              'title', '배송 안내', 'chunk_id', gen_random_uuid()::text,
                              'score', round((0.7 + random() * 0.25)::numeric, 3)),
           jsonb_build_object('document_id', '6f1d1a52-3b0e-4c55-9a43-0d1c5b1f0a02',
                              'title', '환불 및 교환 정책', 'chunk_id', gen_random_uuid()::text,
                              'score', round((0.6 + random() * 0.2)::numeric, 3)))
       else '[]'::jsonb end,
       case when variant <> 'reply' then jsonb_build_object(
           'name', case when variant = 'assistant_action' then 'issue_refund'
                        else 'refund.issue' end,
           'arguments', jsonb_build_object('order_id', 'A-2026-' || n, 'amount', 39000))
       end,
       case variant when 'assistant_action' then 'The assistant proposes issue_refund.'
                    when 'external_action' then '주문 A-2026-' || n || ' 환불 39,000원 승인 요청'
       end,
       case when variant = 'assistant_action' then array['tool_call']
            when variant = 'external_action' then array['external_request']
            when n % 3 = 0 then array['low_grounding']
            when n % 3 = 1 then array['model_uncertain']
            else array['personal_data', 'model_uncertain'] end,
       case when variant = 'external_action' then 'svc-billing-agent' else 'assistant' end,
       case when variant = 'external_action' then 'service' else 'assistant' end,
       case when variant = 'external_action' then callback_url end,
       case when variant = 'external_action' then 'seed-' || n end,
       case when variant = 'external_action' then md5('seed-' || n) end,
       deadline_at, created_at, created_at
from seed;

-- After the customers' messages, so the notice comes later in each conversation.
insert into messages (conversation_id, role, content, approval_id, created_at)
select conversation_id, 'system', notice, approval_id, created_at
from seed where variant <> 'external_action';

insert into approval_audit (approval_id, actor_id, actor_role, event, from_status, to_status,
                            data, at)
select id, requester_id, requester_role, 'created', null, 'pending',
       jsonb_build_object('reasons', to_jsonb(reasons)), created_at
from approvals;
"""


@dataclass
class Tally:
    """What the agents saw; latencies in seconds."""

    decisions: int = 0
    queue_latencies: list[float] = field(default_factory=list)
    claim_latencies: list[float] = field(default_factory=list)
    decision_latencies: list[float] = field(default_factory=list)
    conflicts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    decided: Counter[str] = field(default_factory=Counter)
    empty_pages: int = 0


@dataclass
class Agent:
    subject: str
    connection: HttpConnection
    headers: dict[str, str]
    rng: random.Random


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # the decoded JSON, None for an empty body


async def timed(
    latencies: list[float], agent: Agent, method: str, path: str, body: object = None
) -> Answer:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
            response = await agent.connection.request(method, path, body, agent.headers)
            raw = await response.read()
    except BaseException:
        agent.connection.close()  # a half-read response leaves the connection unusable
        raise
    latencies.append(time.perf_counter() - started)
    return Answer(response.status, json.loads(raw) if raw else None)


def outcome_ok(tally: Tally, step: str, answer: Answer) -> bool:
    if 200 <= answer.status < 300:
        return True
    if answer.status == 409:
        tally.conflicts[step] += 1
    else:
        code = answer.body.get("code", "") if isinstance(answer.body, dict) else ""
        tally.errors[f"{step} {answer.status} {code}".strip()] += 1
    return False


def choose_decision(rng: random.Random, kind: str) -> dict[str, str]:
    decision = rng.choices(list(DECISION_WEIGHTS), weights=list(DECISION_WEIGHTS.values()))[0]
    if decision == "edit" and kind == "reply":
        return {"decision": "edit", "content": rng.choice(EDITED_REPLIES)}
    if decision == "reject":
        return {"decision": "reject", "reason": "inaccurate"}
    return {"decision": "approve"}


async def work_one(agent: Agent, tally: Tally) -> None:
    """One pass of an agent: the queue, a claim, a decision (as far as each succeeds)."""
    response = await timed(
        tally.queue_latencies, agent, "GET", f"/approve/approvals?limit={QUEUE_PAGE}"
    )
    if not outcome_ok(tally, "queue", response):
        return
    # What an agent's screen offers: approvals nobody has claimed (or that are already mine).
    free = [
        approval
        for approval in response.body["approvals"]
        if approval["assignee_id"] in (None, agent.subject)
    ]
    if not free:
        tally.empty_pages += 1
        await asyncio.sleep(0.005)
        return
    approval = agent.rng.choice(free)
    path = f"/approve/approvals/{approval['id']}"
    response = await timed(tally.claim_latencies, agent, "POST", f"{path}/claim", {})
    if not outcome_ok(tally, "claim", response):
        return
    body = choose_decision(agent.rng, approval["kind"])
    response = await timed(tally.decision_latencies, agent, "POST", f"{path}/decision", body)
    if outcome_ok(tally, "decision", response):
        tally.decisions += 1
        tally.decided[f"{approval['kind']}:{body['decision']}"] += 1


async def work_next(agent: Agent, tally: Tally) -> None:
    """One pass with the "next" button: claim the most urgent unassigned approval, decide it."""
    response = await timed(tally.claim_latencies, agent, "POST", "/approve/approvals/claim-next")
    if response.status == 204:
        tally.empty_pages += 1
        await asyncio.sleep(0.005)
        return
    if not outcome_ok(tally, "claim", response):
        return
    approval = response.body
    body = choose_decision(agent.rng, approval["kind"])
    response = await timed(
        tally.decision_latencies,
        agent,
        "POST",
        f"/approve/approvals/{approval['id']}/decision",
        body,
    )
    if outcome_ok(tally, "decision", response):
        tally.decisions += 1
        tally.decided[f"{approval['kind']}:{body['decision']}"] += 1


FLOWS = {"next": work_next, "browse": work_one}


async def agent_loop(agent: Agent, tally: Tally, target: int, flow: str = "next") -> None:
    while tally.decisions < target:
        try:
            await FLOWS[flow](agent, tally)
        except (OSError, EOFError, TimeoutError, ValueError) as error:
            tally.errors[f"transport {type(error).__name__}"] += 1
        if sum(tally.errors.values()) > MAX_ERRORS:
            raise RuntimeError(f"more than {MAX_ERRORS} errors: {dict(tally.errors)}")


# --- processes and CPU ----------------------------------------------------------------------


def gateway_env(database_url: str, data_dir: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "DATABASE_POOL_MAX_SIZE": "20",
        # Kiwi (the KB's Korean analyser) loads at start-up, before the run, not during it.
        "KIWI_WARM_UP_DELAY_SECONDS": "0",
    }


async def backend_pids(connection: "asyncpg.Connection[asyncpg.Record]") -> list[int]:
    rows = await connection.fetch(
        "select pid from pg_stat_activity where datname = current_database()"
        " and pid <> pg_backend_pid()"
    )
    return [row["pid"] for row in rows]


@dataclass
class CpuSnapshot:
    gateway: float
    backends: dict[int, float]
    client: float
    machine_busy: float
    wall: float

    @classmethod
    async def take(
        cls, gateway_pid: int, connection: "asyncpg.Connection[asyncpg.Record]"
    ) -> "CpuSnapshot":
        pids = await backend_pids(connection)
        return cls(
            gateway=tree_cpu_seconds(gateway_pid),
            backends={pid: process_cpu_seconds(pid) for pid in pids},
            client=time.process_time(),
            machine_busy=machine_cpu_seconds()[0],
            wall=time.perf_counter(),
        )


def cpu_breakdown(before: CpuSnapshot, after: CpuSnapshot, decisions: int) -> dict[str, Any]:
    """CPU seconds spent during the run, in ms per successful decision and as cores busy."""
    # A backend opened during the run started from zero.
    postgres = sum(
        seconds - before.backends.get(pid, 0.0) for pid, seconds in after.backends.items()
    )
    spent = {
        "gateway": after.gateway - before.gateway,
        "postgres": postgres,
        "client": after.client - before.client,
        "machine": after.machine_busy - before.machine_busy,
    }
    # Everything else busy meanwhile: Postgres's own processes, and whatever else runs here.
    spent["other"] = spent["machine"] - spent["gateway"] - spent["postgres"] - spent["client"]
    wall = after.wall - before.wall
    return {
        "ms_per_decision": {
            name: round(1000 * seconds / max(decisions, 1), 2) for name, seconds in spent.items()
        },
        "cores_busy": {name: round(seconds / wall, 2) for name, seconds in spent.items()},
    }


# --- the run --------------------------------------------------------------------------------


def latency_figures(values: list[float]) -> dict[str, float | int | None]:
    return {
        "count": len(values),
        "p50_ms": percentile_ms(values, 0.50),
        "p95_ms": percentile_ms(values, 0.95),
        "p99_ms": percentile_ms(values, 0.99),
        "max_ms": round(max(values) * 1000, 1) if values else None,
    }


async def seed(connection: "asyncpg.Connection[asyncpg.Record]", count: int) -> float:
    started = time.perf_counter()
    handoff = (REPO_ROOT / "functions/_shared/hitl/texts/handoff.txt").read_text().strip()
    parameters = (count, DEAD_CALLBACK_URL, handoff)
    async with connection.transaction():
        # A prepared statement is one statement: each goes alone (only the first has parameters).
        for statement in filter(str.strip, SEED_SQL.split(";\n")):
            await connection.execute(statement, *(parameters if "$1" in statement else ()))
    await connection.execute("analyze")
    return time.perf_counter() - started


async def counts_by(
    connection: "asyncpg.Connection[asyncpg.Record]", query: str, *args: Any
) -> dict[str, int]:
    return {row[0]: row[1] for row in await connection.fetch(query, *args)}


async def database_state(
    connection: "asyncpg.Connection[asyncpg.Record]", *, seeded_at: Any
) -> dict[str, Any]:
    """What the warm-up and the run left behind: a check that the decisions did their work."""
    return {
        "approvals_by_status": await counts_by(
            connection, "select status, count(*) from approvals group by 1 order by 1"
        ),
        "audit_by_event": await counts_by(
            connection, "select event, count(*) from approval_audit group by 1 order by 1"
        ),
        "messages_delivered_by_role": await counts_by(
            connection,
            "select role, count(*) from messages where created_at > $1 group by 1 order by 1",
            seeded_at,
        ),
        "conversations_by_status": await counts_by(
            connection, "select status, count(*) from conversations group by 1 order by 1"
        ),
        "callback_deliveries": await connection.fetchval(
            "select count(*) from callback_deliveries"
        ),
        "callback_attempts": await connection.fetchval("select count(*) from callback_attempts"),
        # Each pass of an event relay's sequencer updates this one row once (since the seed).
        "sequencer_passes": await connection.fetchval(
            "select n_tup_upd from pg_stat_user_tables where relname = 'event_sequencer'"
        ),
        "events_written": await connection.fetchval("select count(*) from event_outbox"),
    }


async def run_agents(
    base_url: str,
    tokens: list[tuple[str, str]],
    tally: Tally,
    target: int,
    seed_value: int,
    *,
    flow: str,
) -> float:
    port = urlsplit(base_url).port
    assert port is not None
    agents = [
        Agent(
            subject=subject,
            connection=HttpConnection(port),
            headers={"Authorization": f"Bearer {token}"},
            rng=random.Random(seed_value + number),
        )
        for number, (subject, token) in enumerate(tokens)
    ]
    try:
        started = time.perf_counter()
        await asyncio.gather(*(agent_loop(agent, tally, target, flow) for agent in agents))
        return time.perf_counter() - started
    finally:
        for agent in agents:
            agent.connection.close()


async def run(arguments: argparse.Namespace) -> dict[str, Any]:
    busy_before = await machine_busy_percent()
    loop_ms = reference_loop_ms()
    if busy_before > 20:
        print(f"warning: the machine is already {busy_before}% busy; figures will suffer")
    with tempfile.TemporaryDirectory(prefix="ccos-bench-approvals-") as temporary:
        data_dir = Path(temporary)
        log_path = data_dir / "gateway.log"
        settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
        # Generates DATA_DIR/jwt-secret before the gateway starts, so both sign alike.
        mint_token(settings, role=Role.AGENT, subject="bench-setup", ttl_seconds=60)
        subjects = [f"bench-agent-{number:02d}" for number in range(arguments.agents)]
        tokens = [
            (subject, mint_token(settings, role=Role.AGENT, subject=subject, ttl_seconds=3600))
            for subject in subjects
        ]
        async with fresh_database("bench_approvals") as database_url:
            connection = await asyncpg.connect(database_url)
            gateway: subprocess.Popen[bytes] | None = None
            try:
                print(f"seeding {arguments.approvals:,} pending approvals ...")
                seed_seconds = await seed(connection, arguments.approvals)
                seeded_at = await connection.fetchval("select clock_timestamp()")
                port = free_port()
                base_url = f"http://127.0.0.1:{port}"
                gateway = start_gateway(
                    port=port,
                    log_path=log_path,
                    env=gateway_env(database_url, data_dir),
                    workers=arguments.workers,
                )
                await wait_ready(base_url, gateway, log_path)
                await asyncio.sleep(3)  # Kiwi's warm-up, so it does not run during the run

                print(f"warm-up: {arguments.warm_up} decisions, one agent ...")
                warm_up = Tally()
                await run_agents(
                    base_url, tokens[:1], warm_up, arguments.warm_up, 1, flow=arguments.flow
                )
                pending_at_start = await connection.fetchval(
                    "select count(*) from approvals where status = 'pending'"
                )

                print(f"run: {arguments.agents} agents until {arguments.decisions:,} decisions ...")
                tally = Tally()
                before = await CpuSnapshot.take(gateway.pid, connection)
                wall = await run_agents(
                    base_url, tokens, tally, arguments.decisions, 1000, flow=arguments.flow
                )
                after = await CpuSnapshot.take(gateway.pid, connection)
                if gateway.poll() is not None:
                    raise RuntimeError(f"ccos serve exited during the run:\n{log_tail(log_path)}")
                state = await database_state(connection, seeded_at=seeded_at)
            finally:
                await connection.close()
                if gateway is not None:
                    stop_process(gateway)

    decisions_per_second = tally.decisions / wall
    decision = latency_figures(tally.decision_latencies)
    p99 = decision["p99_ms"]
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "architecture": platform.machine(),
            "python": platform.python_version(),
            "busy_percent_before": busy_before,
            "reference_loop_ms": loop_ms,
        },
        "setup": {
            "approvals_seeded": arguments.approvals,
            "pending_at_start": pending_at_start,
            "seed_seconds": round(seed_seconds, 2),
            "agents": arguments.agents,
            "flow": arguments.flow,
            "decisions_target": arguments.decisions,
            "warm_up_decisions": warm_up.decisions,
            "gateway_pool_max_size": 20,
            "gateway_workers": arguments.workers,
        },
        "decisions": tally.decisions,
        "wall_seconds": round(wall, 2),
        "decisions_per_second": round(decisions_per_second, 1),
        "decision_latency": decision,
        "claim_latency": latency_figures(tally.claim_latencies),
        "queue_latency": latency_figures(tally.queue_latencies),
        "conflicts_409": {"total": sum(tally.conflicts.values()), **dict(tally.conflicts)},
        "errors": {"total": sum(tally.errors.values()), **dict(tally.errors)},
        "empty_queue_pages": tally.empty_pages,
        # Not part of the figures above: one agent alone, what a request costs unqueued.
        "warm_up_sequential_p50_ms": {
            "queue": percentile_ms(warm_up.queue_latencies, 0.5),
            "claim": percentile_ms(warm_up.claim_latencies, 0.5),
            "decision": percentile_ms(warm_up.decision_latencies, 0.5),
        },
        "decided_by_kind": dict(sorted(tally.decided.items())),
        "cpu": cpu_breakdown(before, after, tally.decisions),
        "database_after": state,
        "targets": {
            "decisions_per_second": TARGET_DECISIONS_PER_SECOND,
            "decision_p99_ms": TARGET_P99_MS,
        },
        "met": {
            "decisions_per_second": decisions_per_second >= TARGET_DECISIONS_PER_SECOND,
            "decision_p99_ms": p99 is not None and p99 <= TARGET_P99_MS,
        },
    }


def report(result: dict[str, Any]) -> None:
    setup = result["setup"]
    print(
        f"\n{setup['pending_at_start']:,} pending, {setup['agents']} agents, "
        f"{result['decisions']:,} decisions in {result['wall_seconds']} s "
        f"({result['machine']['cpu_count']} cores, Python {result['machine']['python']}, "
        f"reference loop {result['machine']['reference_loop_ms']} ms)\n"
    )
    print(f"{'request':<10}{'count':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name in ("queue", "claim", "decision"):
        figures = result[f"{name}_latency"]
        print(
            f"{name:<10}{figures['count']:>8}"
            + "".join(f"{figures[key]!s:>9}" for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))
        )
    met = result["met"]
    print(
        f"\ndecisions/s   {result['decisions_per_second']:>8}   target >= "
        f"{TARGET_DECISIONS_PER_SECOND:g}: {'met' if met['decisions_per_second'] else 'MISSED'}"
    )
    print(
        f"decision p99  {result['decision_latency']['p99_ms']!s:>8}   target <= "
        f"{TARGET_P99_MS:g} ms: {'met' if met['decision_p99_ms'] else 'MISSED'}"
    )
    print(f"409s          {json.dumps(result['conflicts_409'])}")
    print(f"errors        {json.dumps(result['errors'])}")
    print(f"empty pages   {result['empty_queue_pages']}")
    print(f"one agent alone (warm-up), p50 ms: {json.dumps(result['warm_up_sequential_p50_ms'])}")
    print(f"decided       {json.dumps(result['decided_by_kind'])}")
    print(f"CPU ms/decision {json.dumps(result['cpu']['ms_per_decision'])}")
    print(f"cores busy      {json.dumps(result['cpu']['cores_busy'])}")
    print(f"database after  {json.dumps(result['database_after'])}")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--approvals", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--decisions", type=int, default=3_000)
    parser.add_argument("--warm-up", type=int, default=50)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gateway processes (SERVER_WORKERS); on 2 cores shared with Postgres and this "
        "client, 2 measured slower than 1 (more CPU per decision, busier cores)",
    )
    parser.add_argument(
        "--flow",
        choices=sorted(FLOWS),
        default="next",
        help="next: POST claim-next then decide (how agents work a queue); browse: read the "
        "queue page, claim one nobody holds, decide (409s when two pick the same)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="1,000 approvals, 200 decisions; prints only"
    )
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.approvals, arguments.decisions = 1_000, 200
    if arguments.approvals < arguments.decisions + arguments.warm_up + arguments.agents:
        parser.error("--approvals must exceed --decisions + --warm-up + --agents")
    return arguments


async def main_async(arguments: argparse.Namespace) -> dict[str, Any]:
    # SIGTERM ends the run like Ctrl-C: cancelled, so every `finally` stops the gateway.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run(arguments)


def main() -> None:
    arguments = parse_arguments()
    try:
        # uvloop for the agents too: the load client's CPU comes off the same two cores.
        result = uvloop.run(main_async(arguments))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: the gateway is stopped and the database dropped", file=sys.stderr)
        sys.exit(130)
    report(result)
    if not arguments.quick:
        RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        print(f"\nwritten: {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
