import json

import pytest

from functions._shared.settings import Settings
from gateway.app import create_app
from tests.conftest import running_client


def request_lines(stderr: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "request"]


async def test_each_request_writes_one_json_line_with_id_route_status_duration(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    async with running_client(create_app(settings)) as client:
        response = await client.get("/healthz", headers={"X-Request-ID": "req-abc.123"})

    (line,) = request_lines(capfd.readouterr().err)
    assert response.headers["x-request-id"] == "req-abc.123"
    assert line["request_id"] == "req-abc.123"
    assert line["route"] == "/healthz"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)


async def test_unsafe_incoming_request_id_is_replaced(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    async with running_client(create_app(settings)) as client:
        response = await client.get("/healthz", headers={"X-Request-ID": 'x" injected=1'})

    (line,) = request_lines(capfd.readouterr().err)
    assert response.headers["x-request-id"] != 'x" injected=1'
    assert line["request_id"] == response.headers["x-request-id"]
