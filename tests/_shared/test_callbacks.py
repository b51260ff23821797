"""Signed approval callbacks: the delivery outbox on the real database, posted to a real HTTP
receiver on loopback (uvicorn), plus the URL allow-list and the signature recipe."""

import asyncio
import collections
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request, Response
from pydantic import SecretStr
from structlog.testing import capture_logs

from functions._shared.db.pool import DbPool, create_pool, transaction
from functions._shared.errors import InvalidInput
from functions._shared.hitl.callbacks import (
    SECRET_FILE_NAME,
    CallbackSender,
    callback_signing_secret,
    deliver_due_callbacks,
    enqueue_callback,
    signature_header,
    validate_callback_url,
    verify_signature,
)
from functions._shared.settings import AppMode, Settings
from tests.conftest import free_port, serve_over_loopback

SECRET = "whsec_test"
PAYLOAD = {"decision": "approve", "reason": "환불 승인", "approval": {"status": "approved"}}
HOLD = None  # a scripted answer: hold the request until the receiver is released, then 200


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real endpoint: answers each POST with the next scripted status (the last repeats)."""

    answers: list[int | None] = field(default_factory=lambda: [200])
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            self.requests.append(Received(dict(request.headers), await request.body()))
            self.arrived.set()
            answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
            if answer is HOLD:
                await self.released.wait()
                return Response(status_code=200)
            headers = {"Location": "/elsewhere"} if 300 <= answer < 400 else None
            return Response(status_code=answer, headers=headers)

        return app


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serve_over_loopback(receiver.app()) as base_url:
        receiver.url = f"{base_url}/hook"
        try:
            yield receiver
        finally:
            receiver.released.set()  # held requests must end, or uvicorn waits for them


@pytest.fixture
def callback_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "callback_signing_secret": SecretStr(SECRET),
            "callback_allowed_hosts": ["127.0.0.1"],
            "callback_timeout_seconds": 0.5,
            "callback_backoff_base_seconds": 0.01,
            "callback_max_backoff_seconds": 0.05,
            "callback_max_attempts": 3,
            "callback_poll_seconds": 0.05,
        }
    )


@pytest.fixture
async def pool(database_url: str, callback_settings: Settings) -> AsyncIterator[DbPool]:
    database_pool = await create_pool(callback_settings, database_url)
    # A pass takes every due delivery in the database: rows other tests left would count too.
    await database_pool.execute("delete from callback_deliveries")
    yield database_pool
    await database_pool.execute("delete from callback_deliveries")
    await database_pool.close()


@pytest.fixture
async def approval_id(pool: DbPool) -> AsyncIterator[UUID]:
    created: UUID = await pool.fetchval(
        "insert into approvals (kind, requester_id, requester_role) "
        "values ('action', 'svc', 'service') returning id"
    )
    yield created
    await pool.execute("delete from approvals where id = $1", created)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http_client:
        yield http_client


async def enqueue(pool: DbPool, approval_id: UUID, url: str) -> UUID:
    async with transaction(pool) as tx:
        return await enqueue_callback(tx, approval_id=approval_id, url=url, payload=PAYLOAD)


async def delivery_row(pool: DbPool, delivery_id: UUID) -> asyncpg.Record:
    row = await pool.fetchrow("select * from callback_deliveries where id = $1", delivery_id)
    assert row is not None
    return row


async def attempt_rows(pool: DbPool, delivery_id: UUID) -> list[asyncpg.Record]:
    return await pool.fetch(
        "select * from callback_attempts where delivery_id = $1 order by id", delivery_id
    )


async def let_backoff_pass(pool: DbPool) -> None:
    await pool.execute(
        "update callback_deliveries set next_attempt_at = now() where status = 'pending'"
    )


async def wait_until(condition: Callable[[], Awaitable[bool]], *, seconds: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_delivery_is_received_once_signed_with_the_payload(
    pool: DbPool,
    approval_id: UUID,
    receiver: Receiver,
    client: httpx.AsyncClient,
    callback_settings: Settings,
) -> None:
    delivery_id = await enqueue(pool, approval_id, receiver.url)

    assert await deliver_due_callbacks(pool, client=client, settings=callback_settings) == 1
    assert await deliver_due_callbacks(pool, client=client, settings=callback_settings) == 0

    [request] = receiver.requests
    assert verify_signature(
        request.body, request.headers["x-ccos-signature"], secret=SECRET, tolerance_seconds=60
    )
    assert json.loads(request.body) == PAYLOAD
    assert request.headers["x-ccos-delivery"] == str(delivery_id)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "ccos-callbacks"
    row = await delivery_row(pool, delivery_id)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 1, 200)
    assert row["delivered_at"] is not None
    [attempt] = await attempt_rows(pool, delivery_id)
    assert (attempt["status_code"], attempt["error"]) == (200, None)


async def test_server_error_is_retried_then_delivered(
    pool: DbPool,
    approval_id: UUID,
    receiver: Receiver,
    client: httpx.AsyncClient,
    callback_settings: Settings,
) -> None:
    receiver.answers = [500, 200]
    delivery_id = await enqueue(pool, approval_id, receiver.url)

    await deliver_due_callbacks(pool, client=client, settings=callback_settings)
    row = await delivery_row(pool, delivery_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "HTTP 500")
    await let_backoff_pass(pool)
    await deliver_due_callbacks(pool, client=client, settings=callback_settings)

    assert (await delivery_row(pool, delivery_id))["status"] == "delivered"
    assert [a["status_code"] for a in await attempt_rows(pool, delivery_id)] == [500, 200]
    assert len(receiver.requests) == 2


async def test_retry_delay_doubles_with_jitter_up_to_the_cap(
    pool: DbPool,
    approval_id: UUID,
    receiver: Receiver,
    client: httpx.AsyncClient,
    callback_settings: Settings,
) -> None:
    receiver.answers = [503]
    settings = callback_settings.model_copy(
        update={
            "callback_backoff_base_seconds": 10.0,
            "callback_max_backoff_seconds": 25.0,
            "callback_max_attempts": 10,
        }
    )
    delivery_id = await enqueue(pool, approval_id, receiver.url)

    for expected_delay in (10.0, 20.0, 25.0):
        await deliver_due_callbacks(pool, client=client, settings=settings)
        row = await delivery_row(pool, delivery_id)
        delay = (row["next_attempt_at"] - row["last_attempt_at"]).total_seconds()
        # The delay is counted from the end of the attempt: allow its duration on top.
        assert expected_delay * 0.8 <= delay <= expected_delay * 1.2 + 1
        await let_backoff_pass(pool)


async def test_receiver_that_never_answers_times_out_and_is_retried(
    pool: DbPool,
    approval_id: UUID,
    receiver: Receiver,
    client: httpx.AsyncClient,
    callback_settings: Settings,
) -> None:
    receiver.answers = [HOLD, 200]
    delivery_id = await enqueue(pool, approval_id, receiver.url)

    assert await deliver_due_callbacks(pool, client=client, settings=callback_settings) == 1
    [timed_out] = await attempt_rows(pool, delivery_id)
    assert (timed_out["status_code"], timed_out["error"]) == (None, "timeout after 0.5s")
    assert 400 <= timed_out["duration_ms"] < 2000
    assert (await delivery_row(pool, delivery_id))["status"] == "pending"
    await let_backoff_pass(pool)
    await deliver_due_callbacks(pool, client=client, settings=callback_settings)

    assert (await delivery_row(pool, delivery_id))["status"] == "delivered"


async def test_unreachable_receiver_is_a_recorded_failure(
    pool: DbPool, approval_id: UUID, client: httpx.AsyncClient, callback_settings: Settings
) -> None:
    delivery_id = await enqueue(pool, approval_id, f"http://127.0.0.1:{free_port()}/hook")

    assert await deliver_due_callbacks(pool, client=client, settings=callback_settings) == 1

    row = await delivery_row(pool, delivery_id)
    assert (row["status"], row["last_error"]) == ("pending", "transport ConnectError")


async def test_redirect_is_not_followed(
    pool: DbPool,
    approval_id: UUID,
    receiver: Receiver,
    client: httpx.AsyncClient,
    callback_settings: Settings,
) -> None:
    receiver.answers = [307]
    delivery_id = await enqueue(pool, approval_id, receiver.url)

    await deliver_due_callbacks(pool, client=client, settings=callback_settings)

    assert len(receiver.requests) == 1
    row = await delivery_row(pool, delivery_id)
    assert (row["status"], row["last_status_code"]) == ("pending", 307)


async def test_delivery_fails_after_max_attempts(
    pool: DbPool,
    approval_id: UUID,
    receiver: Receiver,
    client: httpx.AsyncClient,
    callback_settings: Settings,
) -> None:
    receiver.answers = [500]
    delivery_id = await enqueue(pool, approval_id, receiver.url)

    with capture_logs() as logs:
        for _ in range(callback_settings.callback_max_attempts):
            await deliver_due_callbacks(pool, client=client, settings=callback_settings)
            await let_backoff_pass(pool)
    assert await deliver_due_callbacks(pool, client=client, settings=callback_settings) == 0

    row = await delivery_row(pool, delivery_id)
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert len(await attempt_rows(pool, delivery_id)) == len(receiver.requests) == 3
    [failed] = [log for log in logs if log["event"] == "callback_failed"]
    assert failed["approval_id"] == str(approval_id)
    assert (failed["url_host"], failed["last_status_code"]) == ("127.0.0.1", 500)
    assert "환불" not in repr(logs)


async def test_url_no_longer_allowed_fails_without_a_request(
    pool: DbPool,
    approval_id: UUID,
    receiver: Receiver,
    client: httpx.AsyncClient,
    callback_settings: Settings,
) -> None:
    delivery_id = await enqueue(pool, approval_id, receiver.url)
    narrowed = callback_settings.model_copy(
        update={"callback_allowed_hosts": ["callbacks.example.com"]}
    )

    assert await deliver_due_callbacks(pool, client=client, settings=narrowed) == 1

    assert receiver.requests == []
    row = await delivery_row(pool, delivery_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "CALLBACK_ALLOWED_HOSTS" in row["last_error"]


async def test_production_without_a_secret_fails_without_a_request(
    pool: DbPool,
    approval_id: UUID,
    receiver: Receiver,
    client: httpx.AsyncClient,
    callback_settings: Settings,
) -> None:
    delivery_id = await enqueue(pool, approval_id, receiver.url)
    production = callback_settings.model_copy(
        update={"app_mode": AppMode.PRODUCTION, "callback_signing_secret": None}
    )

    with capture_logs() as logs:
        await deliver_due_callbacks(pool, client=client, settings=production)

    assert receiver.requests == []
    row = await delivery_row(pool, delivery_id)
    assert (row["status"], row["last_error"]) == ("failed", "callback_signing_secret_missing")
    assert "callback_signing_secret_missing" in [log["event"] for log in logs]


async def test_concurrent_passes_deliver_each_callback_once(
    pool: DbPool,
    approval_id: UUID,
    receiver: Receiver,
    client: httpx.AsyncClient,
    callback_settings: Settings,
) -> None:
    delivery_ids = {await enqueue(pool, approval_id, receiver.url) for _ in range(12)}

    attempted = await asyncio.gather(
        *(
            deliver_due_callbacks(pool, client=client, settings=callback_settings, limit=12)
            for _ in range(2)
        )
    )

    assert sum(attempted) == 12
    received = collections.Counter(UUID(r.headers["x-ccos-delivery"]) for r in receiver.requests)
    assert received == dict.fromkeys(delivery_ids, 1)
    assert (
        await pool.fetchval("select count(*) from callback_deliveries where status = 'delivered'")
        == 12
    )


async def test_delivery_claimed_by_another_pass_is_skipped_not_waited_for(
    pool: DbPool,
    approval_id: UUID,
    receiver: Receiver,
    client: httpx.AsyncClient,
    callback_settings: Settings,
    database_url: str,
) -> None:
    locked_id = await enqueue(pool, approval_id, receiver.url)
    free_id = await enqueue(pool, approval_id, receiver.url)
    other_pass = await asyncpg.connect(database_url)
    try:
        async with other_pass.transaction():
            await other_pass.execute(
                "select 1 from callback_deliveries where id = $1 for update", locked_id
            )
            async with asyncio.timeout(3):
                attempted = await deliver_due_callbacks(
                    pool, client=client, settings=callback_settings
                )
    finally:
        await other_pass.close()

    assert attempted == 1
    assert [UUID(r.headers["x-ccos-delivery"]) for r in receiver.requests] == [free_id]
    assert (await delivery_row(pool, locked_id))["status"] == "pending"


async def test_delivery_in_flight_is_not_taken_by_another_pass(
    pool: DbPool,
    approval_id: UUID,
    receiver: Receiver,
    client: httpx.AsyncClient,
    callback_settings: Settings,
) -> None:
    receiver.answers = [HOLD]
    delivery_id = await enqueue(pool, approval_id, receiver.url)
    first = asyncio.create_task(
        deliver_due_callbacks(pool, client=client, settings=callback_settings)
    )
    async with asyncio.timeout(5):
        await receiver.arrived.wait()

    assert await deliver_due_callbacks(pool, client=client, settings=callback_settings) == 0
    receiver.released.set()
    assert await first == 1

    assert len(receiver.requests) == 1
    assert (await delivery_row(pool, delivery_id))["status"] == "delivered"


async def test_sender_delivers_when_woken(
    pool: DbPool, approval_id: UUID, receiver: Receiver, callback_settings: Settings
) -> None:
    sender = CallbackSender(
        pool, settings=callback_settings.model_copy(update={"callback_poll_seconds": 60.0})
    )
    await sender.start()
    try:
        delivery_id = await enqueue(pool, approval_id, receiver.url)
        sender.wake()

        async def delivered() -> bool:
            status: str = (await delivery_row(pool, delivery_id))["status"]
            return status == "delivered"

        await wait_until(delivered)
    finally:
        await sender.stop()
    assert not sender.running


async def test_sender_keeps_running_through_database_errors(
    database_url: str, callback_settings: Settings
) -> None:
    closed_pool = await create_pool(callback_settings, database_url)
    await closed_pool.close()
    sender = CallbackSender(closed_pool, settings=callback_settings)

    with capture_logs() as logs:
        await sender.start()

        async def failed_twice() -> bool:
            events = [log["event"] for log in logs]
            return events.count("callback_sender_pass_failed") >= 2

        await wait_until(failed_twice)
        assert sender.running
        await sender.stop()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/hook", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("https://callbacks.evil.example/hook", "CALLBACK_ALLOWED_HOSTS"),
        ("http://127.0.0.1.evil.example/hook", "CALLBACK_ALLOWED_HOSTS"),
        ("http://user:hunter2@127.0.0.1/hook", "credentials"),
        ("http://@127.0.0.1/hook", "credentials"),
        ("http://evil.example\\@127.0.0.1/hook", "credentials"),
        ("http:///hook", "no host"),
        ("http://127.0.0.1/hook\r\nX-Injected: 1", "control characters"),
        ("http://127.0.0.1/" + "a" * 2048, "longer than 2048"),
    ],
)
def test_callback_url_is_refused(url: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_callback_url(url, allowed_hosts=["127.0.0.1", "localhost"])

    assert refused.value.instance_code == "callback_url_not_allowed"
    assert reason in refused.value.detail
    assert "hunter2" not in refused.value.detail


@pytest.mark.parametrize(
    ("url", "allowed_hosts"),
    [
        ("http://[::1]:8080/hook", ["::1"]),
        ("http://[::1]/hook", ["[::1]"]),
        ("HTTPS://LOCALHOST/Hook", ["localhost"]),
        ("https://callbacks.example.com/approvals?id=1", ["Callbacks.Example.com"]),
    ],
)
def test_callback_url_is_accepted(url: str, allowed_hosts: list[str]) -> None:
    assert validate_callback_url(url, allowed_hosts=allowed_hosts) == url


def test_configured_signing_secret_is_used(settings: Settings) -> None:
    configured = settings.model_copy(update={"callback_signing_secret": SecretStr("configured")})

    assert callback_signing_secret(configured) == "configured"


def test_embedded_signing_secret_is_generated_once(settings: Settings, tmp_path: Path) -> None:
    embedded = settings.model_copy(update={"data_dir": tmp_path / "data"})

    generated = callback_signing_secret(embedded)

    assert generated is not None
    assert len(generated) >= 32
    assert callback_signing_secret(embedded) == generated
    assert (tmp_path / "data" / SECRET_FILE_NAME).stat().st_mode & 0o777 == 0o600


def test_production_has_no_signing_secret_unless_configured(
    settings: Settings, tmp_path: Path
) -> None:
    production = settings.model_copy(update={"app_mode": AppMode.PRODUCTION, "data_dir": tmp_path})

    assert callback_signing_secret(production) is None
    assert not (tmp_path / SECRET_FILE_NAME).exists()


BODY = b'{"decision":"approve"}'
TIMESTAMP = 1_700_000_000


def test_signature_header_matches_the_documented_recipe() -> None:
    # Computed independently: openssl dgst -sha256 -hmac whsec_test over '1700000000.' + body.
    assert signature_header(BODY, secret=SECRET, timestamp=TIMESTAMP) == (
        "t=1700000000,v1=7f9c3d7799ab550d8424a76a2df4c6956520304bf82530fedf669b2a989ef3c8"
    )


def _verify(body: bytes, header: str, *, secret: str = SECRET, now: float = TIMESTAMP) -> bool:
    return verify_signature(body, header, secret=secret, tolerance_seconds=300, now=now)


def test_signature_is_verified() -> None:
    assert _verify(BODY, signature_header(BODY, secret=SECRET, timestamp=TIMESTAMP))


def test_signature_over_a_tampered_body_is_rejected() -> None:
    header = signature_header(BODY, secret=SECRET, timestamp=TIMESTAMP)

    assert not _verify(b'{"decision":"reject"}', header)


def test_signature_with_another_secret_is_rejected() -> None:
    assert not _verify(BODY, signature_header(BODY, secret="other", timestamp=TIMESTAMP))


@pytest.mark.parametrize("skew", [-301, 301])
def test_signature_outside_the_tolerance_is_rejected(skew: int) -> None:
    header = signature_header(BODY, secret=SECRET, timestamp=TIMESTAMP)

    assert not _verify(BODY, header, now=TIMESTAMP + skew)


def test_signature_from_either_secret_is_accepted_during_rotation() -> None:
    old = signature_header(BODY, secret="old-secret", timestamp=TIMESTAMP)
    new = signature_header(BODY, secret="new-secret", timestamp=TIMESTAMP)
    header = f"{old},{new.split(',')[1]}"

    assert _verify(BODY, header, secret="old-secret")
    assert _verify(BODY, header, secret="new-secret")


@pytest.mark.parametrize(
    "header",
    ["", "garbage", "v1=abc", f"t={TIMESTAMP}", f"t={TIMESTAMP},t={TIMESTAMP},v1=abc", "t=x,v1=é"],
)
def test_malformed_signature_header_is_rejected(header: str) -> None:
    assert not _verify(BODY, header)
