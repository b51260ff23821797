"""Chat turns under load: the gateway against a bare streaming proxy, both on a fake OpenAI.

Separate processes: the fake OpenAI server (bench/fake_openai.py), the bare proxy
(bench/bare_proxy.py: SDK stream relayed as SSE, nothing else), the gateway (`ccos serve` on a
fresh migrated database holding the sample KB), and the load clients (a raw HTTP/1.1 client on
uvloop, in one process per 500 conversations or fewer).

For each concurrency N and target: N conversations at once, each `--turns` turns one after the
other (gateway: POST /chat/conversations, then POST .../messages as SSE; bare: POST /turn).
Per turn: time to the first `event: delta` and to `event: done`; errors are non-2xx answers,
error events, timeouts and streams that end without `done`; latencies are of streamed replies
(a turn held for a person streams nothing). Then the "instant LLM" runs: a fake with no time to
first token and ~unlimited tokens/s, users doing conversations back to back for
`--instant-seconds`: one user (a turn's cost in the server alone), then `--instant-concurrency`
users (the most turns/s; target >= 200).

CPU is accounted per process from /proc (cores used = CPU seconds per wall second): client,
target, fake, the target database's Postgres backends, and "other" (anything else on the
machine). A measurement during which other work took more than `--max-other-cores` is repeated
(up to `--attempts` times).

    .venv/bin/python bench/chat_load.py [--concurrency 10,100,1000] [--turns 3]
        [--targets gateway,bare] [--ttft-ms 200] [--tokens-per-second 50] [--reply-tokens 60]
        [--instant-concurrency 50] [--instant-seconds 15] [--client-processes N] [--quick]

`--quick`: N = 10, one turn, a 3 s instant run; prints only. A full run with both targets
writes bench/results/chat_load.json (or `--output`).
"""

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.pool
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple
from urllib.parse import urlsplit

import httpx
import uvloop
from _http import HttpConnection  # bench/ is the script's folder, first on sys.path
from _measure import (
    free_port,
    machine_busy_percent,
    machine_cpu_seconds,
    percentile_ms,
    process_cpu_seconds,
    tree_cpu_seconds,
)
from _support import stop_process, wait_ready

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PYTHON = sys.executable
CCOS = str(Path(sys.executable).parent / "ccos")
RESULTS = BENCH_DIR / "results" / "chat_load.json"
USERS_PER_CLIENT_PROCESS = 500
TURN_TIMEOUT_SECONDS = 120.0
# Questions whose documents answer plainly: no refund, complaint or account deletion, which the
# policy sends to a human (a held draft never streams, and this measures streamed replies).
HARMLESS_DOCUMENTS = {
    "shipping-times.md",
    "shipping-fees.md",
    "remote-area-shipping.md",
    "international-shipping.md",
    "payment-methods.md",
    "interest-free-installments.md",
    "receipts-and-invoices.md",
    "membership-tiers.md",
    "points-rewards.md",
    "coupons.md",
    "password-reset.md",
}
SENSITIVE_WORDS = ("보상", "환불", "없어요", "안 와요")


# --- load client (runs in the client processes) -------------------------------------------


class TurnRecord(NamedTuple):
    first_delta: float | None
    total: float | None
    error: str | None
    held: bool


@dataclass(frozen=True)
class ClientJob:
    target: str
    port: int
    users: int
    first_user: int
    turns: int
    questions: tuple[str, ...]
    start_at: float
    run_seconds: float | None


@dataclass
class ClientReport:
    turns: list[TurnRecord] = field(default_factory=list)
    creates: list[float] = field(default_factory=list)
    conversations: int = 0
    started: float = 0.0
    finished: float = 0.0
    cpu_seconds: float = 0.0


async def sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str, str]]:
    buffer = b""
    event = "message"
    data: list[str] = []
    async for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r").decode()
            if not line:
                if data:
                    yield event, "\n".join(data)
                event, data = "message", []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[6:] if line.startswith("data: ") else line[5:])


async def timed_turn(
    connection: HttpConnection, path: str, content: str, headers: dict[str, str]
) -> TurnRecord:
    started = time.perf_counter()
    first_delta: float | None = None
    total: float | None = None
    held = False
    try:
        async with asyncio.timeout(TURN_TIMEOUT_SECONDS):
            response = await connection.request("POST", path, {"content": content}, headers)
            if not 200 <= response.status < 300:
                await response.read()
                return TurnRecord(None, None, f"HTTP {response.status}", False)
            async for event, data in sse_events(response.chunks()):
                if event == "delta" and first_delta is None:
                    first_delta = time.perf_counter() - started
                elif event == "done":
                    total = time.perf_counter() - started
                    held = json.loads(data).get("reply") is None
                elif event == "error":
                    connection.close()
                    return TurnRecord(first_delta, None, f"error event {data[:60]}", False)
    except TimeoutError:
        connection.close()
        return TurnRecord(first_delta, None, "timeout", False)
    except (OSError, EOFError, ValueError) as error:
        connection.close()
        return TurnRecord(first_delta, None, type(error).__name__, False)
    if total is None:
        connection.close()
        return TurnRecord(first_delta, None, "stream ended without done", False)
    return TurnRecord(first_delta, total, None, held)


async def start_conversation(
    connection: HttpConnection,
) -> tuple[dict[str, Any] | None, str | None]:
    try:
        response = await connection.request("POST", "/chat/conversations", {}, {})
        body = await response.read()
    except (OSError, EOFError, ValueError) as error:
        return None, f"start: {type(error).__name__}"
    if response.status != 201:
        return None, f"start: HTTP {response.status} {body[:80]!r}"
    started: dict[str, Any] = json.loads(body)
    if not {"id", "token"} <= started.keys():
        return None, f"start: no id and token in {body[:80]!r}"
    return started, None


async def conversation(job: ClientJob, number: int, report: ClientReport) -> None:
    connection = HttpConnection(job.port)
    questions = [
        job.questions[(number * job.turns + turn) % len(job.questions)] for turn in range(job.turns)
    ]
    try:
        if job.target == "bare":
            for question in questions:
                report.turns.append(await timed_turn(connection, "/turn", question, {}))
            return
        started = time.perf_counter()
        started_conversation, failure = await start_conversation(connection)
        if started_conversation is None:
            report.turns.extend(TurnRecord(None, None, failure, False) for _ in questions)
            return
        report.creates.append(time.perf_counter() - started)
        path = f"/chat/conversations/{started_conversation['id']}/messages"
        headers = {
            "Authorization": f"Bearer {started_conversation['token']}",
            "Accept": "text/event-stream",
        }
        for question in questions:
            report.turns.append(await timed_turn(connection, path, question, headers))
    finally:
        connection.close()
        report.conversations += 1


async def user(job: ClientJob, number: int, report: ClientReport) -> None:
    deadline = None if job.run_seconds is None else job.start_at + job.run_seconds
    repeat = 0
    while True:
        await conversation(job, number + repeat * 100_003, report)
        repeat += 1
        if deadline is None or time.time() >= deadline:
            return


async def client_share(job: ClientJob) -> ClientReport:
    await asyncio.sleep(max(0.0, job.start_at - time.time()))
    report = ClientReport(started=time.time())
    cpu_started = time.process_time()
    await asyncio.gather(*(user(job, job.first_user + n, report) for n in range(job.users)))
    report.finished = time.time()
    report.cpu_seconds = time.process_time() - cpu_started
    return report


def run_client_share(job: ClientJob) -> ClientReport:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(client_share(job))


def ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group: the parent alone decides how to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# --- processes under test ----------------------------------------------------------------


class Children:
    """Every process this benchmark starts, each logging to a file; all stopped on exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self,
        name: str,
        command: Sequence[str],
        env: dict[str, str] | None = None,
        *,
        read_stdout: bool = False,
    ) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE if read_stdout else log,
                stderr=log,
            )
        self.processes[name] = process
        return process

    async def start_ready(self, name: str, command: Sequence[str]) -> int:
        """Start a bench server and return the port from its ``READY <port>`` line."""
        process = self.start(name, command, read_stdout=True)
        stdout: IO[bytes] = process.stdout  # type: ignore[assignment]
        line = await asyncio.wait_for(asyncio.to_thread(stdout.readline), timeout=60)
        if not line.startswith(b"READY "):
            raise RuntimeError(f"{name} did not start:\n{self.log_tail(name)}")
        return int(line.split()[1])

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        stop_process(process, timeout_seconds=20)
        if process.stdout is not None:
            process.stdout.close()

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)


GATEWAY_SETTINGS = {
    "CHAT_PROVIDER": "openai",
    "OPENAI_API_KEY": "fake",
    "CHAT_START_RATE_LIMIT_PER_MINUTE": "1000000",
    "CHAT_MESSAGE_RATE_LIMIT_PER_MINUTE": "1000000",
    # Every simulated customer comes from 127.0.0.1.
    "CHAT_ADDRESS_MESSAGE_RATE_LIMIT_PER_MINUTE": "1000000",
    "EVENTS_MAX_STREAMS": "20000",
    "DATABASE_POOL_MAX_SIZE": "20",
    "LOG_LEVEL": "WARNING",
    # Steady state is measured: Kiwi loads at once, not in the middle of a run.
    "KIWI_WARM_UP_DELAY_SECONDS": "0",
    # The fake's hashed-bigram embeddings rank well but score paraphrases low, which would hold
    # a third of these on-topic questions for a person: this measures streamed turns.
    "CHAT_GROUNDING_MIN_SCORE": "0",
}


def gateway_env(
    database_url: str, data_dir: Path, fake_port: int, *, workers: int = 1
) -> dict[str, str]:
    return {
        **os.environ,
        **GATEWAY_SETTINGS,
        "SERVER_WORKERS": str(workers),
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "OPENAI_BASE_URL": f"http://127.0.0.1:{fake_port}/v1",
    }


async def ingest_sample_kb(children: Children, env: dict[str, str]) -> None:
    process = children.start("ingest", [CCOS, "kb", "ingest", "examples/kb"], env=env)
    if await asyncio.to_thread(process.wait) != 0:
        raise RuntimeError(f"ccos kb ingest failed:\n{children.log_tail('ingest')}")
    children.stop("ingest")


async def start_gateway(children: Children, name: str, env: dict[str, str]) -> int:
    port = free_port()
    process = children.start(
        name, [CCOS, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env
    )
    await wait_ready(f"http://127.0.0.1:{port}", process, children.log_dir / f"{name}.log")
    return port


async def fake_stats(port: int) -> Counter[str]:
    async with httpx.AsyncClient(timeout=5) as client:
        return Counter((await client.get(f"http://127.0.0.1:{port}/_fake/stats")).json())


# --- measuring ----------------------------------------------------------------------------


def postgres_backends(database: str) -> list[int]:
    """Server processes of one database: their titles read ``postgres: USER DATABASE ...``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"postgres: ") and title.split()[2:3] == [database.encode()]:
                pids.append(int(entry.name))
    return pids


@dataclass
class Stack:
    """The servers of one phase: the fake, and the targets pointing at it."""

    fake_port: int
    ports: dict[str, int]
    pids: dict[str, int]  # fake_openai and each target
    database: str

    def cpu_seconds(self) -> dict[str, float]:
        # A target's children too: `--gateway-workers` > 1 serves from worker processes.
        seconds = {name: tree_cpu_seconds(pid) for name, pid in self.pids.items()}
        seconds["postgres"] = sum(map(process_cpu_seconds, postgres_backends(self.database)))
        return seconds


def client_processes_for(users: int, requested: int | None) -> int:
    if requested:
        return min(requested, users)
    return max(1, -(-users // USERS_PER_CLIENT_PROCESS))


async def measure(
    pool: multiprocessing.pool.Pool,
    stack: Stack,
    *,
    target: str,
    users: int,
    turns: int,
    questions: tuple[str, ...],
    run_seconds: float | None = None,
    client_processes: int | None = None,
) -> dict[str, Any]:
    processes = client_processes_for(users, client_processes)
    start_at = time.time() + 1.0
    jobs = [
        ClientJob(
            target=target,
            port=stack.ports[target],
            users=users // processes + (1 if index < users % processes else 0),
            first_user=index * (users // processes + 1),
            turns=turns,
            questions=questions,
            start_at=start_at,
            run_seconds=run_seconds,
        )
        for index in range(processes)
    ]
    stats_before = await fake_stats(stack.fake_port)
    cpu_before = stack.cpu_seconds()
    machine_before = machine_cpu_seconds()
    pending = [pool.apply_async(run_client_share, (job,)) for job in jobs]
    reports: list[ClientReport] = await asyncio.gather(
        *(asyncio.to_thread(result.get) for result in pending)
    )
    machine_after = machine_cpu_seconds()
    cpu = {name: seconds - cpu_before[name] for name, seconds in stack.cpu_seconds().items()}
    wall = max(report.finished for report in reports) - start_at
    stats = await fake_stats(stack.fake_port) - stats_before

    records = [record for report in reports for record in report.turns]
    ok = [record for record in records if record.error is None]
    # Latencies of streamed replies only: a held draft is never streamed (a notice is sent).
    streamed = [record for record in ok if not record.held]
    first_deltas = [record.first_delta for record in streamed if record.first_delta is not None]
    totals = [record.total for record in streamed if record.total is not None]
    cpu["client"] = sum(report.cpu_seconds for report in reports)
    busy = machine_after[0] - machine_before[0]
    cores = {name: round(seconds / wall, 2) for name, seconds in sorted(cpu.items())}
    cores["client_busiest_process"] = round(max(r.cpu_seconds for r in reports) / wall, 2)
    cores["other"] = round(max(0.0, busy - sum(cpu.values())) / wall, 2)
    return {
        "target": target,
        "concurrency": users,
        "turns_per_conversation": turns,
        "run_seconds": run_seconds,
        "conversations": sum(report.conversations for report in reports),
        "turns": len(records),
        "ok": len(ok),
        "errors": len(records) - len(ok),
        "error_kinds": dict(Counter(record.error for record in records if record.error)),
        "held_for_approval": len(ok) - len(streamed),
        "streamed_without_delta": sum(record.first_delta is None for record in streamed),
        "wall_seconds": round(wall, 2),
        "turns_per_second": round(len(ok) / wall, 1),
        "first_delta_p50_ms": percentile_ms(first_deltas, 0.50),
        "first_delta_p99_ms": percentile_ms(first_deltas, 0.99),
        "total_p50_ms": percentile_ms(totals, 0.50),
        "total_p99_ms": percentile_ms(totals, 0.99),
        "start_conversation_p50_ms": percentile_ms(
            [c for report in reports for c in report.creates], 0.50
        ),
        "start_conversation_p99_ms": percentile_ms(
            [c for report in reports for c in report.creates], 0.99
        ),
        "upstream_requests_per_turn": {
            name: round(count / max(1, len(records)), 2) for name, count in sorted(stats.items())
        },
        "client_processes": processes,
        "client_start_skew_ms": round(
            (max(report.started for report in reports) - start_at) * 1000, 1
        ),
        # CPU seconds per wall second (1.0 = one core busy); "other": anything else running.
        "cores_used": cores,
        "machine_busy_percent": round(100 * busy / (machine_after[1] - machine_before[1]), 1),
    }


async def start_stack(
    children: Children,
    *,
    phase: str,
    targets: Sequence[str],
    fake_arguments: Sequence[str],
    database_url: str,
    data_dir: Path,
    ingest: bool,
    gateway_workers: int,
) -> Stack:
    fake_port = await children.start_ready(
        f"fake-{phase}", [PYTHON, str(BENCH_DIR / "fake_openai.py"), *fake_arguments]
    )
    ports: dict[str, int] = {}
    if "gateway" in targets:
        env = gateway_env(database_url, data_dir, fake_port, workers=gateway_workers)
        if ingest:
            await ingest_sample_kb(children, env)
        ports["gateway"] = await start_gateway(children, f"gateway-{phase}", env)
    if "bare" in targets:
        ports["bare"] = await children.start_ready(
            f"bare-{phase}",
            [
                PYTHON,
                str(BENCH_DIR / "bare_proxy.py"),
                "--upstream",
                f"http://127.0.0.1:{fake_port}/v1",
            ],
        )
    pids = {target: children.processes[f"{target}-{phase}"].pid for target in targets}
    pids["fake_openai"] = children.processes[f"fake-{phase}"].pid
    return Stack(fake_port, ports, pids, database=urlsplit(database_url).path.lstrip("/"))


def load_questions() -> tuple[str, ...]:
    rows = [
        json.loads(line)
        for line in (BENCH_DIR / "data" / "retrieval_eval.jsonl").read_text().splitlines()
        if line.strip()
    ]
    return tuple(
        row["question"]
        for row in rows
        if row["document"] in HARMLESS_DOCUMENTS
        and not any(word in row["question"] for word in SENSITIVE_WORDS)
    )


def raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


INSTANT_FAKE = ["--ttft-ms=0", "--tokens-per-second=1000000", "--reply-tokens=20"]


@dataclass
class Bench:
    arguments: argparse.Namespace
    children: Children
    pool: multiprocessing.pool.Pool
    questions: tuple[str, ...]
    database_url: str
    data_dir: Path

    async def start(self, phase: str, fake_arguments: list[str], *, ingest: bool) -> Stack:
        stack = await start_stack(
            self.children,
            phase=phase,
            targets=self.arguments.targets,
            fake_arguments=fake_arguments,
            database_url=self.database_url,
            data_dir=self.data_dir,
            ingest=ingest,
            gateway_workers=self.arguments.gateway_workers,
        )
        for target in self.arguments.targets:  # warm-up (connections, caches); not recorded
            await self.measure(stack, target, users=10, turns=1, client_processes=1)
        return stack

    async def measure(self, stack: Stack, target: str, **options: Any) -> dict[str, Any]:
        return await measure(self.pool, stack, target=target, questions=self.questions, **options)

    async def measure_alone(self, stack: Stack, target: str, **options: Any) -> dict[str, Any]:
        """A measurement repeated while other work on the machine takes more than
        ``--max-other-cores`` (a shared machine: a test suite starting mid-run skews it)."""
        limit = self.arguments.max_other_cores
        attempt = 1
        result = await self.measure(stack, target, **options)
        while result["cores_used"]["other"] > limit and attempt < self.arguments.attempts:
            print(f"    other processes took {result['cores_used']['other']} cores: again")
            await asyncio.sleep(10)
            attempt += 1
            result = await self.measure(stack, target, **options)
        result["attempt"] = attempt
        return result

    async def paced(self) -> list[dict[str, Any]]:
        arguments = self.arguments
        stack = await self.start(
            "paced",
            [
                f"--ttft-ms={arguments.ttft_ms}",
                f"--tokens-per-second={arguments.tokens_per_second}",
                f"--reply-tokens={arguments.reply_tokens}",
            ],
            ingest=True,
        )
        runs = []
        for users in arguments.concurrency:
            for target in arguments.targets:
                print(f"  {target}: {users} conversations x {arguments.turns} turns ...")
                runs.append(
                    await self.measure_alone(
                        stack,
                        target,
                        users=users,
                        turns=arguments.turns,
                        client_processes=arguments.client_processes,
                    )
                )
        self.children.stop_all()
        return runs

    async def instant(self) -> list[dict[str, Any]]:
        """With one user, a turn's cost in the server alone; with many, the most turns/s."""
        arguments = self.arguments
        stack = await self.start("instant", INSTANT_FAKE, ingest=False)
        runs = []
        for users in (1, arguments.instant_concurrency):
            for target in arguments.targets:
                seconds = arguments.instant_seconds
                print(f"  {target}: instant LLM, {users} users for {seconds:g} s ...")
                runs.append(
                    await self.measure_alone(
                        stack,
                        target,
                        users=users,
                        turns=arguments.turns,
                        run_seconds=arguments.instant_seconds,
                        client_processes=arguments.client_processes,
                    )
                )
        self.children.stop_all()
        return runs


async def run(arguments: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    from _support import fresh_database  # noqa: PLC0415  (client processes need none of it)

    main_task = asyncio.current_task()
    assert main_task is not None
    loop = asyncio.get_running_loop()

    def terminate(signum: int, frame: object) -> None:
        # As asyncio.Runner does for Ctrl-C: cancel the main task, so that every finally
        # below runs and stops the processes; a second signal raises at once.
        if main_task.cancelling():
            raise KeyboardInterrupt
        print("terminated: stopping every process", file=sys.stderr, flush=True)
        main_task.cancel()
        loop.call_soon_threadsafe(lambda: None)

    signal.signal(signal.SIGTERM, terminate)
    busy_before = await machine_busy_percent()
    if busy_before > 15:
        print(f"warning: the machine is already {busy_before}% busy; figures will suffer")
    most_users = max([*arguments.concurrency, arguments.instant_concurrency])
    children = Children(log_dir)
    pool = multiprocessing.get_context("spawn").Pool(
        client_processes_for(most_users, arguments.client_processes),
        initializer=ignore_interrupts,
    )
    questions = load_questions()
    try:
        async with fresh_database("bench_chat") as database_url:
            bench = Bench(arguments, children, pool, questions, database_url, log_dir / "data")
            try:
                runs = await bench.paced()
                instant_runs = await bench.instant() if arguments.instant_seconds > 0 else []
            finally:
                children.stop_all()  # before the database is dropped
    finally:
        pool.terminate()
        pool.join()
        children.stop_all()

    return {
        "machine": {
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "file_descriptor_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            "busy_percent_before_start": busy_before,
        },
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "settings": {
            "ttft_ms": arguments.ttft_ms,
            "tokens_per_second": arguments.tokens_per_second,
            "reply_tokens": arguments.reply_tokens,
            "turns_per_conversation": arguments.turns,
            "questions": len(questions),
            "gateway_env": GATEWAY_SETTINGS,
            "gateway_workers": arguments.gateway_workers,
            "instant_fake": INSTANT_FAKE,
        },
        "runs": runs,
        "ratios_gateway_over_bare": ratios(runs),
        "instant_runs": instant_runs,
        "instant_target_turns_per_second": 200,
    }


def ratios(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_key = {(run["concurrency"], run["target"]): run for run in runs}
    rows = []
    for (users, target), gateway in by_key.items():
        bare = by_key.get((users, "bare"))
        if target != "gateway" or bare is None:
            continue
        row: dict[str, Any] = {"concurrency": users}
        for figure in ("first_delta_p50_ms", "first_delta_p99_ms", "total_p50_ms", "total_p99_ms"):
            if gateway[figure] is not None and bare[figure]:
                row[figure.removesuffix("_ms")] = round(gateway[figure] / bare[figure], 2)
        rows.append(row)
    return rows


def table(runs: list[dict[str, Any]]) -> Iterator[str]:
    yield (
        f"{'target':8} {'N':>5} {'turns':>6} {'err':>4} {'held':>4} {'turns/s':>8} "
        f"{'TTFD p50':>9} {'p99':>7} {'total p50':>10} {'p99':>7}  "
        f"cores:{'client':>7}{'target':>7}{'fake':>6}{'pg':>6}{'other':>6}  busy"
    )
    for run in runs:
        cores = run["cores_used"]
        yield (
            f"{run['target']:8} {run['concurrency']:>5} {run['turns']:>6} {run['errors']:>4} "
            f"{run['held_for_approval']:>4} {run['turns_per_second']:>8} "
            f"{run['first_delta_p50_ms'] or '-':>9} {run['first_delta_p99_ms'] or '-':>7} "
            f"{run['total_p50_ms'] or '-':>10} {run['total_p99_ms'] or '-':>7}  "
            f"{'':6}{cores['client']:>7}{cores[run['target']]:>7}{cores['fake_openai']:>6}"
            f"{cores['postgres']:>6}{cores['other']:>6}  {run['machine_busy_percent']}%"
        )
        if run["error_kinds"]:
            yield f"{'':8} errors: {run['error_kinds']}"


def report(result: dict[str, Any]) -> None:
    settings = result["settings"]
    print(
        f"\nFake LLM: {settings['ttft_ms']:g} ms to first token, "
        f"{settings['tokens_per_second']:g} tokens/s, {settings['reply_tokens']} tokens; "
        f"{settings['turns_per_conversation']} turns per conversation; times in ms"
    )
    for line in table(result["runs"]):
        print(line)
    for row in result["ratios_gateway_over_bare"]:
        figures = ", ".join(f"{k} {v}" for k, v in row.items() if k != "concurrency")
        print(f"gateway / bare at N={row['concurrency']}: {figures}")
    if result["instant_runs"]:
        print(
            "\nInstant LLM (no TTFT, 20 tokens at once), N users doing conversations back to back:"
        )
        for line in table(result["instant_runs"]):
            print(line)
        print(f"target: gateway >= {result['instant_target_turns_per_second']} turns/s")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", default="10,100,1000")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--targets", default="gateway,bare")
    parser.add_argument("--ttft-ms", type=float, default=200.0)
    parser.add_argument("--tokens-per-second", type=float, default=50.0)
    parser.add_argument("--reply-tokens", type=int, default=60)
    parser.add_argument("--instant-concurrency", type=int, default=50)
    parser.add_argument(
        "--gateway-workers",
        type=int,
        default=1,
        help="gateway processes (SERVER_WORKERS); the bare proxy is always one",
    )
    parser.add_argument("--instant-seconds", type=float, default=15.0, help="0: no instant run")
    parser.add_argument(
        "--client-processes",
        type=int,
        default=None,
        help=f"load client processes (default: one per {USERS_PER_CLIENT_PROCESS} users)",
    )
    parser.add_argument(
        "--max-other-cores",
        type=float,
        default=0.25,
        help="repeat a measurement while other processes use more CPU than this",
    )
    parser.add_argument("--attempts", type=int, default=3, help="at most, per measurement")
    parser.add_argument("--quick", action="store_true", help="smoke run: N=10, 1 turn, 3 s")
    parser.add_argument("--output", type=Path, default=None)
    arguments = parser.parse_args()
    arguments.concurrency = [int(n) for n in arguments.concurrency.split(",")]
    arguments.targets = [t.strip() for t in arguments.targets.split(",") if t.strip()]
    if not set(arguments.targets) <= {"gateway", "bare"} or not arguments.targets:
        parser.error("--targets: gateway, bare or both")
    if arguments.quick:
        arguments.concurrency, arguments.turns, arguments.instant_seconds = [10], 1, 3.0
    return arguments


def main() -> None:
    arguments = parse_arguments()
    file_limit = raise_file_limit()
    if file_limit < 2 * max(arguments.concurrency) + 1000:
        print(f"warning: only {file_limit} file descriptors per process")
    log_dir = Path(tempfile.mkdtemp(prefix="chat_load_"))
    try:
        result = asyncio.run(run(arguments, log_dir))
    except BaseException:
        print(f"failed; process logs kept in {log_dir}", file=sys.stderr)
        raise
    shutil.rmtree(log_dir, ignore_errors=True)
    report(result)
    output = arguments.output
    if output is None and not arguments.quick and set(arguments.targets) == {"gateway", "bare"}:
        output = RESULTS
    if output is not None:
        output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        print(f"\nwritten: {output}")
    else:
        print("\n(not written: --quick or one target only; --output PATH to keep it)")


if __name__ == "__main__":
    main()
