"""Rewrites the README's benchmark table from ``bench/results/*.json`` (run by ``make bench``
after every benchmark, or alone to re-render).

Each row: the figure, its target, what was measured (with a met/missed mark), the command that
produced it, the date and the machine. A result file that is missing leaves its rows out and says
so under the table.
"""

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results"
README = REPO_ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass
class Row:
    figure: str
    target: str
    measured: str
    met: bool | None
    command: str
    date: str
    machine: str


def _machine(result: dict[str, Any]) -> str:
    machine = result.get("machine")
    if isinstance(machine, str):
        return machine
    if isinstance(machine, dict):
        cores = machine.get("cpu_count")
        architecture = machine.get("machine") or machine.get("architecture", "?")
        described = f"{architecture}, {cores} cores, Python {machine.get('python')}"
        if machine.get("reference_loop_ms") is not None:
            described += f", reference loop {machine['reference_loop_ms']} ms"
        return described
    return "?"


def cold_start(r: dict[str, Any]) -> list[Row]:
    command = ".venv/bin/python bench/cold_start.py --runs 5"
    return [
        Row(
            "import time of `gateway.app`",
            "≤ 0.8 s",
            f"{r['import_seconds_median']} s median, {r['import_seconds_max']} s max",
            r["import_seconds_median"] <= 0.8,
            command,
            r["date"],
            _machine(r),
        ),
        Row(
            "process start → `/readyz` 200",
            "≤ 1.5 s",
            f"{r['ready_seconds_median']} s median, {r['ready_seconds_max']} s max",
            r["ready_seconds_median"] <= 1.5,
            command,
            r["date"],
            _machine(r),
        ),
    ]


def events(r: dict[str, Any]) -> list[Row]:
    command = ".venv/bin/python bench/events.py"
    return [
        Row(
            f"events/s emit → SSE, {r['streams']} open streams",
            "≥ 2,000",
            f"{r['throughput_events_per_second']:,}",
            r["throughput_events_per_second"] >= 2000,
            command,
            r["date"],
            _machine(r),
        ),
        Row(
            "p99 emit → delivery at 1,000 events/s",
            "≤ 50 ms",
            f"p50 {r['paced_p50_ms']} ms, p99 {r['paced_p99_ms']} ms",
            r["paced_p99_ms"] <= 50,
            command,
            r["date"],
            _machine(r),
        ),
    ]


def retrieval_eval(r: dict[str, Any]) -> list[Row]:
    hybrid = r["methods"]["hybrid"]
    return [
        Row(
            f"retrieval hit@3, hybrid, {r['questions']} labelled questions",
            "≥ 0.85",
            f"{hybrid['hit@3']} (hit@1 {hybrid['hit@1']}, MRR {hybrid['mrr']})",
            hybrid["hit@3"] >= 0.85,
            ".venv/bin/python bench/retrieval_eval.py",
            r["date"],
            _machine(r),
        ),
    ]


def retrieval_speed(r: dict[str, Any]) -> list[Row]:
    command = ".venv/bin/python bench/retrieval_speed.py"
    search = r["search"]
    ingestion = r["ingestion"]
    return [
        Row(
            f"search p95 at {r['chunks']:,} chunks",
            "≤ 15 ms",
            f"p50 {search['p50_ms']} ms, p95 {search['p95_ms']} ms",
            search["p95_ms"] <= 15,
            command,
            r["date"],
            _machine(r),
        ),
        Row(
            f"HNSW recall@10 at {r['chunks']:,} chunks",
            "≥ 0.95",
            f"{search['recall_at_10']}",
            search["recall_at_10"] >= 0.95,
            command,
            r["date"],
            _machine(r),
        ),
        Row(
            "ingestion (chunk, embed, index)",
            "≥ 1,000 chunks/s",
            f"{ingestion['chunks_per_second']} chunks/s",
            ingestion["chunks_per_second"] >= 1000,
            command,
            r["date"],
            _machine(r),
        ),
    ]


def chat_load(r: dict[str, Any]) -> list[Row]:
    command = ".venv/bin/python bench/chat_load.py"
    rows = []
    by_n = {ratio["concurrency"]: ratio for ratio in r["ratios_gateway_over_bare"]}
    if 100 in by_n:
        ratio = by_n[100]
        rows.append(
            Row(
                "chat turn latency vs bare proxy, 100 concurrent (total)",
                "p50 ≤ 1.15x, p99 ≤ 1.5x",
                f"p50 {ratio['total_p50']}x, p99 {ratio['total_p99']}x",
                ratio["total_p50"] <= 1.15 and ratio["total_p99"] <= 1.5,
                command,
                r["date"],
                _machine(r),
            )
        )
    largest = max(
        (run for run in r["runs"] if run["target"] == "gateway"),
        key=lambda run: run["concurrency"],
        default=None,
    )
    if largest is not None:
        held = largest["errors"] == 0 and largest["concurrency"] >= 1000
        rows.append(
            Row(
                "concurrent streaming conversations held",
                "≥ 1,000",
                f"{largest['concurrency']:,} with {largest['errors']} errors"
                f" (p99 {largest['total_p99_ms']:.0f} ms)",
                held,
                command,
                r["date"],
                _machine(r),
            )
        )
    instant = [run for run in r["instant_runs"] if run["target"] == "gateway"]
    if instant:
        best = max(instant, key=lambda run: run["turns_per_second"])
        bare = max(
            (run["turns_per_second"] for run in r["instant_runs"] if run["target"] == "bare"),
            default=None,
        )
        rows.append(
            Row(
                "chat turns/s with an instant LLM",
                "≥ 200",
                f"{best['turns_per_second']} (bare proxy {bare})",
                best["turns_per_second"] >= 200,
                command,
                r["date"],
                _machine(r),
            )
        )
    return rows


def approvals(r: dict[str, Any]) -> list[Row]:
    command = ".venv/bin/python bench/approvals.py"
    setup = r["setup"]
    flow = setup.get("flow", "browse")
    label = f"{setup['pending_at_start']:,} pending, {setup['agents']} agents, {flow} flow"
    return [
        Row(
            f"approval decisions/s ({label})",
            "≥ 300",
            f"{r['decisions_per_second']}",
            r["decisions_per_second"] >= 300,
            command,
            r["date"],
            _machine(r),
        ),
        Row(
            "approval decision p99",
            "≤ 100 ms",
            f"{r['decision_latency']['p99_ms']} ms (p50 {r['decision_latency']['p50_ms']} ms)",
            r["decision_latency"]["p99_ms"] <= 100,
            command,
            r["date"],
            _machine(r),
        ),
    ]


def sweep(r: dict[str, Any]) -> list[Row]:
    return [
        Row(
            f"sweep: {r['approvals']:,} due approvals expired by {r['processes']} processes",
            "each exactly once",
            f"{r['approvals_per_second']:,} approvals/s, duplicates {r['duplicates']}",
            r["duplicates"] == 0,
            ".venv/bin/python bench/sweep.py",
            r["date"],
            _machine(r),
        ),
    ]


RENDERERS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "cold_start": cold_start,
    "events": events,
    "retrieval_eval": retrieval_eval,
    "retrieval_speed": retrieval_speed,
    "chat_load": chat_load,
    "approvals": approvals,
    "sweep": sweep,
}


def table() -> str:
    rows: list[Row] = []
    missing = []
    for name, render in RENDERERS.items():
        path = RESULTS / f"{name}.json"
        if not path.exists():
            missing.append(name)
            continue
        rows.extend(render(json.loads(path.read_text())))
    lines = [
        "| figure | target | measured | command | date | machine |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        mark = "" if row.met is None else (" ✅" if row.met else " **❌ missed**")
        lines.append(
            f"| {row.figure} | {row.target} | {row.measured}{mark} | `{row.command}`"
            f" | {row.date} | {row.machine} |"
        )
    if missing:
        lines.append("")
        lines.append(f"Not measured yet: {', '.join(missing)}.")
    return "\n".join(lines)


def main() -> None:
    text = README.read_text()
    if START not in text or END not in text:
        sys.exit(f"README.md needs the markers {START} and {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{table()}\n{END}{tail}")
    print(table())


if __name__ == "__main__":
    main()
