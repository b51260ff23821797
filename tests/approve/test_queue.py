"""The queue and the detail, and who may use each route."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.approve.conftest import StaffHeaders, action_request, held_turn
from tests.conftest import bearer


async def test_queue_lists_pending_nearest_deadline_first_with_filters(
    chat_api: httpx.AsyncClient, staff: StaffHeaders
) -> None:
    admin = staff("admin")
    later = await chat_api.post(
        "/approve/approvals", json=action_request(deadline_seconds=3000), headers=admin
    )
    sooner = await chat_api.post(
        "/approve/approvals", json=action_request(deadline_seconds=1000), headers=admin
    )

    page = (
        await chat_api.get("/approve/approvals?kind=action&limit=200", headers=staff("agent"))
    ).json()

    ids = [approval["id"] for approval in page["approvals"]]
    assert ids.index(sooner.json()["id"]) < ids.index(later.json()["id"])
    assert {approval["kind"] for approval in page["approvals"]} == {"action"}
    assert {approval["status"] for approval in page["approvals"]} == {"pending"}
    assert page["total"] >= 2


async def test_detail_holds_context_draft_reasons_and_audit(
    chat_api: httpx.AsyncClient, staff: StaffHeaders
) -> None:
    _, _, turn = await held_turn(chat_api, "환불해 주세요. 제 번호는 010-3333-4444 입니다")

    detail = (
        await chat_api.get(f"/approve/approvals/{turn['approval']['id']}", headers=staff("agent"))
    ).json()

    assert detail["kind"] == "reply"
    assert "refund_or_compensation" in detail["reasons"]
    assert "personal_data" in detail["reasons"]
    assert detail["draft"]
    assert detail["draft_citations"]
    assert [m["role"] for m in detail["messages"]] == ["customer", "system"]
    assert "010-3333-4444" not in str(detail)
    assert [entry["event"] for entry in detail["audit"]] == ["created"]
    assert detail["conversation_status"] == "pending_human"


ROUTES = ["list", "detail", "create", "claim", "decision"]
# Expected status per role and route (the approval exists and is pending for claim/decision).
ROLE_MATRIX: dict[str, dict[str, int]] = {
    "customer": {"list": 403, "detail": 403, "create": 403, "claim": 403, "decision": 403},
    "agent": {"list": 200, "detail": 200, "create": 403, "claim": 200, "decision": 200},
    "supervisor": {"list": 200, "detail": 200, "create": 403, "claim": 200, "decision": 200},
    "admin": {"list": 200, "detail": 200, "create": 201, "claim": 200, "decision": 200},
    "service": {"list": 403, "detail": 404, "create": 201, "claim": 403, "decision": 403},
}


async def call(
    api: httpx.AsyncClient, route: str, approval_id: str, headers: dict[str, str]
) -> httpx.Response:
    base = "/approve/approvals"
    if route == "list":
        return await api.get(base, headers=headers)
    if route == "detail":
        return await api.get(f"{base}/{approval_id}", headers=headers)
    if route == "create":
        return await api.post(base, json=action_request(), headers=headers)
    if route == "claim":
        return await api.post(f"{base}/{approval_id}/claim", headers=headers)
    return await api.post(
        f"{base}/{approval_id}/decision", json={"decision": "approve"}, headers=headers
    )


@pytest.mark.parametrize("role", list(ROLE_MATRIX))
@pytest.mark.parametrize("route", ROUTES)
async def test_role_matrix(
    chat_api: httpx.AsyncClient, staff: StaffHeaders, token_for: Any, role: str, route: str
) -> None:
    created = await chat_api.post(
        "/approve/approvals", json=action_request(), headers=staff("admin")
    )
    approval_id = created.json()["id"]
    if role == "customer":
        _, headers, _ = await held_turn(chat_api)
    else:
        headers = bearer(token_for(role, subject=f"{role}-{uuid.uuid4().hex[:6]}"))

    response = await call(chat_api, route, approval_id, headers)

    assert response.status_code == ROLE_MATRIX[role][route], response.text


async def test_without_a_token_every_route_is_401(chat_api: httpx.AsyncClient) -> None:
    approval_id = str(uuid.uuid4())
    statuses = {
        route: (await call(chat_api, route, approval_id, {})).status_code for route in ROUTES
    }

    assert set(statuses.values()) == {401}


async def test_unknown_approval_is_404(chat_api: httpx.AsyncClient, staff: StaffHeaders) -> None:
    missing = str(uuid.uuid4())

    detail = await chat_api.get(f"/approve/approvals/{missing}", headers=staff("agent"))
    decision = await chat_api.post(
        f"/approve/approvals/{missing}/decision",
        json={"decision": "approve"},
        headers=staff("agent"),
    )

    assert (detail.status_code, decision.status_code) == (404, 404)


async def test_agents_pressing_next_at_once_get_different_approvals(
    chat_api: httpx.AsyncClient, chat_sql: Any, staff: StaffHeaders
) -> None:
    # Earlier tests leave unassigned approvals behind: out of the way first.
    await chat_sql.execute(
        "update approvals set assignee_id = 'someone'"
        " where status = 'pending' and assignee_id is null"
    )
    created = [
        (
            await chat_api.post(
                "/approve/approvals",
                json=action_request(deadline_seconds=1),
                headers=staff("admin"),
            )
        ).json()["id"]
        for _ in range(3)
    ]

    claims = await asyncio.gather(
        *(
            chat_api.post("/approve/approvals/claim-next?kind=action", headers=staff("agent"))
            for _ in range(3)
        )
    )

    claimed = [response.json()["id"] for response in claims]
    assert sorted(claimed) == sorted(created)
    assert all(response.json()["assignee_id"] for response in claims)


async def test_claim_next_with_nothing_to_take_is_204(
    chat_api: httpx.AsyncClient, chat_sql: Any, staff: StaffHeaders
) -> None:
    await chat_sql.execute(
        "update approvals set assignee_id = 'someone'"
        " where status = 'pending' and assignee_id is null"
    )

    response = await chat_api.post("/approve/approvals/claim-next", headers=staff("agent"))

    assert response.status_code == 204
