"""FastAPI dependencies: who is calling, and may they."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from functions._shared.auth.tokens import Principal, Role, TokenVerifier
from functions._shared.errors import NotAuthenticated, PermissionDenied

# auto_error=False: a missing header must become our 401 problem, not FastAPI's own error.
_bearer = HTTPBearer(auto_error=False, description="A JWT: Supabase Auth or minted by ccos.")


# Each dependency is a node FastAPI solves on every request: the chain is kept short (the token
# verifier is read from the app's state here, not through a dependency of its own).
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def token_verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier


async def get_optional_principal(request: Request, credentials: Credentials) -> Principal | None:
    if credentials is None:
        return None
    return await token_verifier(request).verify(credentials.credentials)


async def get_principal(request: Request, credentials: Credentials) -> Principal:
    principal = await get_optional_principal(request, credentials)
    if principal is None:
        raise NotAuthenticated("A bearer token is required.", code="missing_token")
    return principal


async def get_stream_principal(
    request: Request,
    credentials: Credentials,
    access_token: Annotated[
        str | None,
        Query(
            description="For browsers' EventSource, which cannot send headers. "
            "Prefer the Authorization header: URLs end up in proxy logs."
        ),
    ] = None,
) -> Principal:
    token = credentials.credentials if credentials is not None else access_token
    if not token:
        raise NotAuthenticated("A bearer token is required.", code="missing_token")
    return await token_verifier(request).verify(token)


def require_roles(
    *roles: Role,
) -> Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[Principal]]:
    allowed = frozenset(roles)

    async def check_role(request: Request, credentials: Credentials) -> Principal:
        principal = await get_principal(request, credentials)
        if principal.role not in allowed:
            raise PermissionDenied(
                f"This requires one of the roles: {', '.join(sorted(allowed))}.",
                code="wrong_role",
            )
        return principal

    return check_role


OptionalPrincipal = Annotated[Principal | None, Depends(get_optional_principal)]
AnyPrincipal = Annotated[Principal, Depends(get_principal)]
StreamPrincipal = Annotated[Principal, Depends(get_stream_principal)]
AgentUser = Annotated[Principal, Depends(require_roles(Role.AGENT, Role.SUPERVISOR, Role.ADMIN))]
SupervisorUser = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]
AdminOrService = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.SERVICE))]
StaffOrService = Annotated[
    Principal,
    Depends(require_roles(Role.AGENT, Role.SUPERVISOR, Role.ADMIN, Role.SERVICE)),
]
