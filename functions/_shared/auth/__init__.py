"""Bearer-JWT authentication and role checks."""

from functions._shared.auth.dependencies import (
    AdminOrService,
    AgentUser,
    AnyPrincipal,
    OptionalPrincipal,
    StaffOrService,
    StreamPrincipal,
    SupervisorUser,
    require_roles,
)
from functions._shared.auth.tokens import Principal, Role, TokenVerifier, mint_token

__all__ = [
    "AdminOrService",
    "AgentUser",
    "AnyPrincipal",
    "OptionalPrincipal",
    "Principal",
    "Role",
    "StaffOrService",
    "StreamPrincipal",
    "SupervisorUser",
    "TokenVerifier",
    "mint_token",
    "require_roles",
]
