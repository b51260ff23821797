"""HTTP routes of the approve function (mounted under /approve)."""

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response

from functions._shared.app import AppSettings
from functions._shared.auth import AdminOrService, AgentUser, require_roles
from functions._shared.auth.tokens import Principal, Role
from functions._shared.db.pool import Autocommit, Tx
from functions._shared.errors import PROBLEM_CONTENT_TYPE
from functions.approve import service
from functions.approve.schemas import (
    ActionApprovalCreate,
    ApprovalDetail,
    ApprovalPage,
    ApprovalSummary,
    ClaimRequest,
    DecisionRequest,
)

router = APIRouter(tags=["approve"])

# Staff read everything; a service (or admin) may also poll the approvals it requested.
StaffOrRequester = Annotated[
    Principal,
    Depends(require_roles(Role.AGENT, Role.SUPERVISOR, Role.ADMIN, Role.SERVICE)),
]


def _problems(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": description, "content": {PROBLEM_CONTENT_TYPE: {}}}
        for status, description in {
            401: "Missing or invalid token.",
            403: "Wrong role.",
            **descriptions,
        }.items()
    }


@router.get("/approvals", responses=_problems({422: "Invalid filter."}))
async def list_approvals(
    principal: AgentUser,
    tx: Tx,
    status: Annotated[
        Literal["pending", "approved", "edited", "rejected", "expired", "cancelled", "any"],
        Query(description="Default: pending. `any` lists every status."),
    ] = "pending",
    kind: Literal["reply", "action"] | None = None,
    assignee_id: Annotated[str | None, Query(max_length=200)] = None,
    escalation_level: Annotated[int | None, Query(ge=0, le=1000)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ApprovalPage:
    return await service.list_queue(
        tx,
        status=None if status == "any" else status,
        kind=kind,
        assignee_id=assignee_id,
        escalation_level=escalation_level,
        limit=limit,
        offset=offset,
    )


@router.get("/approvals/{approval_id}", responses=_problems({404: "No such approval."}))
async def read_approval(
    approval_id: UUID, principal: StaffOrRequester, tx: Tx, settings: AppSettings
) -> ApprovalDetail:
    return await service.approval_detail(
        tx, settings=settings, principal=principal, approval_id=approval_id
    )


@router.post(
    "/approvals",
    status_code=201,
    responses={
        200: {"description": "The same idempotency_key and body again: the existing approval."},
        **_problems(
            {
                409: "The idempotency_key was used with a different body.",
                422: "Invalid body, deadline out of bounds, callback URL not allowed.",
            }
        ),
    },
)
async def request_approval(
    body: ActionApprovalCreate,
    principal: AdminOrService,
    tx: Tx,
    settings: AppSettings,
    response: Response,
) -> ApprovalSummary:
    approval, created = await service.request_action(
        tx, settings=settings, principal=principal, body=body
    )
    if not created:
        response.status_code = 200
    return approval


@router.post(
    "/approvals/claim-next",
    response_model=ApprovalSummary,
    responses={
        204: {"description": "Nothing unassigned is pending."},
        **_problems({422: "Invalid kind."}),
    },
)
async def claim_next_approval(
    principal: AgentUser, connection: Autocommit, kind: Literal["reply", "action"] | None = None
) -> Any:
    """Assign the caller the unassigned pending approval with the nearest deadline (agents
    pressing "next" at the same time each get a different one)."""
    # One statement picks, assigns, audits and announces: atomic without BEGIN and COMMIT.
    claimed = await service.claim_next(connection, principal=principal, kind=kind)
    return claimed if claimed is not None else Response(status_code=204)


@router.post(
    "/approvals/{approval_id}/claim",
    responses=_problems(
        {404: "No such approval.", 409: "Not pending, or claimed by another agent."}
    ),
)
async def claim_approval(
    approval_id: UUID, principal: AgentUser, tx: Tx, body: ClaimRequest | None = None
) -> ApprovalSummary:
    return await service.claim(
        tx, principal=principal, approval_id=approval_id, body=body or ClaimRequest()
    )


@router.post(
    "/approvals/{approval_id}/decision",
    responses=_problems(
        {
            404: "No such approval.",
            409: "Not pending (the problem carries `approval_status`), or claimed by another.",
            422: "Unknown decision, `edit` without content, a reason not in the list.",
        }
    ),
)
async def decide_approval(
    approval_id: UUID, body: DecisionRequest, principal: AgentUser, tx: Tx, settings: AppSettings
) -> ApprovalSummary:
    return await service.decide(
        tx, settings=settings, principal=principal, approval_id=approval_id, body=body
    )
