"""Realtime events end to end: emit (a committed transaction) -> outbox -> relay -> SSE client.

The gateway runs as its own process (`ccos serve`) against the embedded Postgres; this process
holds the SSE clients and the writers. Two runs:

- throughput: N events as fast as W writers can commit them (one event per transaction),
  spread over the open streams; events/s from the first emit to the last delivery;
- latency: events at a steady rate; p50/p99 of delivery time minus the event's occurred_at
  (stamped in the database when the event is written, before commit).

    .venv/bin/python bench/events.py [--streams 200] [--events 10000] [--writers 4]
                                     [--rate 1000] [--seconds 5]

Targets (issue 3): >= 2,000 events/s; p99 <= 50 ms with 200 open streams.
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench._measure import free_port, percentile_ms  # noqa: E402
from bench._support import start_gateway, stop_process, wait_ready  # noqa: E402
from functions._shared.auth.tokens import Role, mint_token  # noqa: E402
from functions._shared.db.migrations import migrate_database  # noqa: E402
from functions._shared.db.pool import init_connection, resolve_database_url  # noqa: E402
from functions._shared.events import EventType, conversation_topic, emit  # noqa: E402
from functions._shared.events.schemas import ConversationUpdated  # noqa: E402
from functions._shared.settings import Settings  # noqa: E402


@dataclass
class Deliveries:
    latencies: list[float] = field(default_factory=list)
    last_received: float = 0.0
    count: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0

    def record(self, occurred_at: str) -> None:
        now = time.time()
        self.latencies.append(now - datetime.fromisoformat(occurred_at).timestamp())
        self.last_received = now
        self.count += 1
        if self.count >= self.expected:
            self.arrived.set()

    def reset(self, expected: int) -> None:
        self.latencies.clear()
        self.count = 0
        self.expected = expected
        self.arrived.clear()


async def subscribe(
    port: int, topic: str, token: str, deliveries: Deliveries, opened: asyncio.Event
) -> None:
    # A bare HTTP/1.1 client: httpx's line parsing would cost this 2-core machine more CPU
    # than the server under test.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /events/{topic} HTTP/1.1\r\nHost: bench\r\n"
        f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream refused: {status!r}")
    opened.set()
    try:
        while line := await reader.readline():
            if line.startswith(b"data: "):
                deliveries.record(json.loads(line[6:])["occurred_at"])
    finally:
        writer.close()


async def emit_events(
    pool: "asyncpg.Pool[asyncpg.Record]",
    conversations: list[uuid.UUID],
    *,
    count: int,
    writers: int,
    rate: float | None,
) -> float:
    started = time.time()

    async def writer(index: int) -> None:
        async with pool.acquire() as connection:
            for number in range(index, count, writers):
                if rate is not None:
                    delay = started + number / rate - time.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                conversation_id = conversations[number % len(conversations)]
                async with connection.transaction():
                    await emit(
                        connection,
                        topic=conversation_topic(conversation_id),
                        type=EventType.CONVERSATION_UPDATED,
                        data=ConversationUpdated(conversation_id=conversation_id, status="ai"),
                    )

    await asyncio.gather(*(writer(index) for index in range(writers)))
    return started


async def run(arguments: argparse.Namespace) -> dict[str, object]:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    database_url = await resolve_database_url(settings)
    await migrate_database(settings)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.mkdtemp(prefix="ccos-bench-events-")) / "gateway.log"
    # Steady state is measured: Kiwi (the KB's Korean analyser) loads at once, not mid-run.
    gateway = start_gateway(
        port=port,
        log_path=log_path,
        env={"DATABASE_URL": database_url, "KIWI_WARM_UP_DELAY_SECONDS": "0"},
    )
    token = mint_token(settings, role=Role.AGENT, ttl_seconds=3600)
    conversations = [uuid.uuid4() for _ in range(arguments.streams)]
    deliveries = Deliveries()
    pool = await asyncpg.create_pool(
        database_url, min_size=arguments.writers, max_size=arguments.writers, init=init_connection
    )
    try:
        await wait_ready(base_url, gateway, log_path)
        await asyncio.sleep(4)  # let the warm-up finish before measuring
        opened = [asyncio.Event() for _ in conversations]
        streams = [
            asyncio.create_task(
                subscribe(port, conversation_topic(c), token, deliveries, opened[i])
            )
            for i, c in enumerate(conversations)
        ]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened)), timeout=30)
        await asyncio.sleep(0.5)

        deliveries.reset(arguments.events)
        started = await emit_events(
            pool, conversations, count=arguments.events, writers=arguments.writers, rate=None
        )
        await asyncio.wait_for(deliveries.arrived.wait(), timeout=120)
        throughput = arguments.events / (deliveries.last_received - started)
        saturated_p99_ms = percentile_ms(deliveries.latencies, 0.99)

        paced = int(arguments.rate * arguments.seconds)
        deliveries.reset(paced)
        await emit_events(
            pool, conversations, count=paced, writers=arguments.writers, rate=arguments.rate
        )
        await asyncio.wait_for(deliveries.arrived.wait(), timeout=60)
        paced_latencies = list(deliveries.latencies)
        for stream in streams:
            stream.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
    finally:
        await pool.close()
        stop_process(gateway)

    return {
        "streams": arguments.streams,
        "writers": arguments.writers,
        "throughput_events": arguments.events,
        "throughput_events_per_second": round(throughput),
        "throughput_p99_ms": saturated_p99_ms,
        "paced_rate_per_second": arguments.rate,
        "paced_events": paced,
        "paced_p50_ms": round(statistics.median(paced_latencies) * 1000, 1),
        "paced_p99_ms": percentile_ms(paced_latencies, 0.99),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result, indent=2))
    (REPO_ROOT / "bench" / "results" / "events.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
