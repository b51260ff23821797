"""Every error is an RFC 9457 problem with a stable code, and a 500 reveals no internals."""

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from functions._shared.app import build_app, database_only_lifespan
from functions._shared.auth import AgentUser
from functions._shared.db.pool import Tx
from functions._shared.errors import Conflict
from functions._shared.settings import Settings
from tests.conftest import bearer, running_client

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "request_id"}
SECRET_INTERNAL = "internal secret: db password hunter2"


class Greeting(BaseModel):
    name: str = Field(min_length=1, max_length=20)


def app_with_probe_routes(settings: Settings) -> FastAPI:
    app = build_app(
        title="errors test", settings=settings, lifespan=database_only_lifespan(settings)
    )

    @app.post("/greetings")
    async def greet(greeting: Greeting, principal: AgentUser) -> dict[str, str]:
        return {"hello": greeting.name}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET_INTERNAL)

    @app.post("/probe-rows/{value}")
    async def insert_probe_row(value: str, tx: Tx) -> dict[str, str]:
        await tx.execute("insert into tx_probe (value) values ($1)", value)
        if value == "conflict":
            raise Conflict("This value conflicts.")
        return {"stored": value}

    return app


@pytest.fixture
async def probe_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(app_with_probe_routes(settings)) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body.keys() >= PROBLEM_FIELDS
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    assert body["request_id"] == response.headers["x-request-id"]


async def test_401_is_a_problem(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post("/greetings", json={"name": "민지"})

    assert_problem(response, 401, "missing_token")


async def test_403_is_a_problem(probe_client: httpx.AsyncClient, token_for: object) -> None:
    token = token_for("customer")  # type: ignore[operator]
    response = await probe_client.post("/greetings", json={"name": "민지"}, headers=bearer(token))

    assert_problem(response, 403, "wrong_role")


async def test_404_is_a_problem(probe_client: httpx.AsyncClient) -> None:
    assert_problem(await probe_client.get("/no/such/route"), 404, "not_found")


async def test_405_is_a_problem(probe_client: httpx.AsyncClient) -> None:
    assert_problem(await probe_client.delete("/greetings"), 405, "method_not_allowed")


async def test_422_is_a_problem_that_does_not_echo_the_input(
    probe_client: httpx.AsyncClient, token_for: object
) -> None:
    token = token_for("agent")  # type: ignore[operator]
    too_long = "010-1234-5678 " * 5

    response = await probe_client.post("/greetings", json={"name": too_long}, headers=bearer(token))

    assert_problem(response, 422, "invalid_input")
    assert response.json()["errors"][0]["loc"] == ["body", "name"]
    assert "010-1234-5678" not in response.text


async def test_malformed_json_body_is_422_not_500(
    probe_client: httpx.AsyncClient, token_for: object
) -> None:
    token = token_for("agent")  # type: ignore[operator]
    response = await probe_client.post(
        "/greetings",
        content=b'{"name": ',
        headers={**bearer(token), "content-type": "application/json"},
    )

    assert_problem(response, 422, "invalid_input")


async def test_500_is_a_problem_without_internals(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.get("/boom")

    assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text


@pytest.fixture
async def probe_table(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    await connection.execute("create table tx_probe (value text)")
    yield connection
    await connection.execute("drop table tx_probe")
    await connection.close()


async def test_transaction_commits_when_the_route_succeeds(
    probe_client: httpx.AsyncClient, probe_table: asyncpg.Connection
) -> None:
    response = await probe_client.post("/probe-rows/kept")

    assert response.status_code == 200
    assert await probe_table.fetchval("select count(*) from tx_probe where value = 'kept'") == 1


async def test_transaction_rolls_back_when_the_route_raises(
    probe_client: httpx.AsyncClient, probe_table: asyncpg.Connection
) -> None:
    response = await probe_client.post("/probe-rows/conflict")

    assert_problem(response, 409, "conflict")
    assert await probe_table.fetchval("select count(*) from tx_probe") == 0
