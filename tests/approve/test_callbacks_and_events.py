"""The external agent's side: a signed callback received over real HTTP (retried after a 500),
and the `approvals` event stream showing every transition in order."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from functions._shared.hitl.callbacks import callback_signing_secret, verify_signature
from functions._shared.settings import Settings
from gateway.app import create_app
from tests.approve.conftest import action_request
from tests.conftest import bearer, serve_over_loopback
from tests.gateway.test_event_stream import SseReader


class Receiver:
    """An external agent's webhook endpoint: answers 500 first, then 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.app = FastAPI()
        self.app.add_api_route("/hook", self.hook, methods=["POST"])

    async def hook(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), await request.body()))
        return Response(status_code=500 if len(self.requests) == 1 else 200)


@pytest.fixture
def fast_settings(chat_settings: Settings) -> Settings:
    return chat_settings.model_copy(
        update={
            "callback_backoff_base_seconds": 0.1,
            "callback_poll_seconds": 0.1,
            "events_poll_seconds": 0.2,
        }
    )


@pytest.fixture
async def gateway_url(fast_settings: Settings) -> AsyncIterator[str]:
    async with serve_over_loopback(create_app(fast_settings)) as base_url:
        yield base_url


async def wait_until(condition: Any, seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not in time"
        await asyncio.sleep(0.05)


async def test_decision_reaches_the_requester_signed_and_retried_after_a_500(
    fast_settings: Settings, gateway_url: str, token_for: Any
) -> None:
    receiver = Receiver()
    service = bearer(token_for("service", subject="agent-bot"))
    agent = bearer(token_for("agent", subject="agent-kim"))
    async with (
        serve_over_loopback(receiver.app) as hook_base,
        httpx.AsyncClient(base_url=gateway_url) as api,
    ):
        body = action_request(callback_url=f"{hook_base}/hook")
        created = (await api.post("/approve/approvals", json=body, headers=service)).json()
        await api.post(
            f"/approve/approvals/{created['id']}/decision",
            json={"decision": "reject", "reason": "action_not_allowed", "note": "한도 초과"},
            headers=agent,
        )
        await wait_until(lambda: len(receiver.requests) == 2)
        detail = (await api.get(f"/approve/approvals/{created['id']}", headers=service)).json()

    secret = callback_signing_secret(fast_settings)
    assert secret is not None
    for headers, raw in receiver.requests:
        assert verify_signature(
            raw, headers["x-ccos-signature"], secret=secret, tolerance_seconds=300
        )
    payload = json.loads(receiver.requests[1][1])
    assert payload["id"] == created["id"]
    assert (payload["kind"], payload["status"], payload["decision"]) == (
        "action",
        "rejected",
        "reject",
    )
    assert (payload["decided_by"], payload["note"]) == ("agent-kim", "한도 초과")
    assert payload["action"] == body["action"]
    (delivery,) = detail["callbacks"]
    assert delivery["status"] == "delivered"
    assert [attempt["status_code"] for attempt in delivery["attempt_log"]] == [500, 200]


async def test_approvals_stream_shows_every_transition_in_order(
    gateway_url: str, token_for: Any
) -> None:
    agent = bearer(token_for("agent", subject="agent-stream"))
    admin = bearer(token_for("admin"))
    async with (
        httpx.AsyncClient(base_url=gateway_url, timeout=10) as api,
        api.stream("GET", "/events/approvals", headers=agent) as stream,
    ):
        reader = SseReader(stream)
        created = (
            await api.post("/approve/approvals", json=action_request(), headers=admin)
        ).json()
        await api.post(f"/approve/approvals/{created['id']}/claim", headers=agent)
        await api.post(
            f"/approve/approvals/{created['id']}/decision",
            json={"decision": "approve"},
            headers=agent,
        )
        mine: list[Any] = []
        while len(mine) < 3:
            (event,) = await reader.events(1)
            if event.data["data"]["approval_id"] == created["id"]:
                mine.append(event)

    assert [event.event for event in mine] == [
        "approval.created",
        "approval.updated",
        "approval.updated",
    ]
    assert [(e.data["data"]["status"], e.data["data"]["assignee_id"]) for e in mine] == [
        ("pending", None),
        ("pending", "agent-stream"),
        ("approved", "agent-stream"),
    ]
    ids = [event.id for event in mine]
    assert ids == sorted(ids)
