"""What the load benchmarks measure with (Linux): CPU seconds from /proc, per process and for
the whole machine, latency percentiles, and a free loopback port."""

import asyncio
import os
import socket
from pathlib import Path


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def tree_cpu_seconds(pid: int) -> float:
    """A process and its children: `ccos serve --workers N` serves from N children."""
    return process_cpu_seconds(pid) + sum(process_cpu_seconds(c) for c in child_pids(pid))


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, over every core."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    idle = values[3] + values[4]
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / ticks, sum(values) / ticks


async def machine_busy_percent(seconds: float = 2.0) -> float:
    before = machine_cpu_seconds()
    await asyncio.sleep(seconds)
    after = machine_cpu_seconds()
    return round(100 * (after[0] - before[0]) / (after[1] - before[1]), 1)


def percentile_ms(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
