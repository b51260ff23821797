"""Who am I: lets a frontend or an operator check a token and the role it carries."""

from fastapi import APIRouter
from pydantic import BaseModel

from functions._shared.auth import AnyPrincipal
from functions._shared.auth.tokens import Role

router = APIRouter(tags=["auth"])


class Identity(BaseModel):
    subject: str
    role: Role | None


@router.get("/me", response_model=Identity)
async def whoami(principal: AnyPrincipal) -> Identity:
    return Identity(subject=principal.subject, role=principal.role)
