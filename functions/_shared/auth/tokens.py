"""Verifying and minting JWTs.

Accepted: HS256 with the configured secret (Supabase's legacy JWT secret, or the embedded
mode's local secret), and RS256/ES256 with a key from Supabase's JWKS endpoint (cached). The
algorithm lists are fixed, so a token cannot choose ``none`` or swap a public key for an HMAC
secret. Audience and expiry are always checked.
"""

import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
import jwt
import structlog

from functions._shared.auth.local_secret import load_or_create_local_secret
from functions._shared.errors import DependencyUnavailable, NotAuthenticated
from functions._shared.outbound_http import async_client
from functions._shared.settings import Settings

logger = structlog.get_logger(__name__)

SYMMETRIC_ALGORITHMS = ("HS256",)
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
MINTED_TOKEN_ISSUER = "ccos"  # noqa: S105 (an issuer name)
# After a key id misses the cache, do not hit the JWKS endpoint again for this long, so that
# a flood of tokens with random key ids cannot turn into a flood of outbound requests.
JWKS_MISS_REFRESH_SECONDS = 30.0


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    SERVICE = "service"


STAFF_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role | None
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def conversation_id(self) -> str | None:
        """The one conversation a customer token is scoped to."""
        value = self.claims.get("conversation_id")
        return value if isinstance(value, str) else None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


def role_from_claims(claims: dict[str, Any]) -> Role | None:
    app_metadata = claims.get("app_metadata")
    candidates = [app_metadata.get("role") if isinstance(app_metadata, dict) else None]
    # Supabase puts its database role ("authenticated") in the role claim; only our own role
    # names count there.
    candidates.append(claims.get("role"))
    for candidate in candidates:
        if isinstance(candidate, str) and candidate in Role.__members__.values():
            return Role(candidate)
    return None


def signing_secret(settings: Settings) -> str | None:
    if settings.supabase_jwt_secret is not None:
        return settings.supabase_jwt_secret.get_secret_value()
    if settings.is_embedded:
        return load_or_create_local_secret(settings.data_dir)
    return None


class JwksCache:
    def __init__(self, url: str, *, ttl_seconds: float, timeout_seconds: float) -> None:
        self.url = url
        self.ttl_seconds = ttl_seconds
        self.timeout_seconds = timeout_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")

    async def key_for(self, key_id: str) -> jwt.PyJWK:
        age = time.monotonic() - self._fetched_at
        if age > self.ttl_seconds or (key_id not in self._keys and age > JWKS_MISS_REFRESH_SECONDS):
            await self._refresh()
        key = self._keys.get(key_id)
        if key is None:
            raise NotAuthenticated("The token is signed with an unknown key.", code="unknown_key")
        return key

    async def _refresh(self) -> None:
        try:
            async with async_client(timeout=self.timeout_seconds) as client:
                response = await client.get(self.url)
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            logger.warning("jwks_fetch_failed", url=self.url, error=type(error).__name__)
            if self._keys:
                return  # keep serving the keys we have rather than locking everyone out
            raise DependencyUnavailable("The signing keys could not be fetched.") from error
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if entry.get("kid") and entry.get("alg", "") in ASYMMETRIC_ALGORITHMS:
                keys[entry["kid"]] = jwt.PyJWK(entry)
        self._keys = keys
        self._fetched_at = time.monotonic()


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secret = signing_secret(settings)
        self.jwks = (
            JwksCache(
                settings.jwks_url,
                ttl_seconds=settings.jwks_cache_seconds,
                timeout_seconds=settings.jwks_timeout_seconds,
            )
            if settings.jwks_url
            else None
        )
        # token -> (principal, expiry on time.time()); insertion order is eviction order.
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        """The token's principal. A token verified before is taken from the cache until its
        ``exp`` (+ leeway) passes: its signature, audience and issuer cannot have changed (a
        signing key withdrawn from the JWKS meanwhile is not noticed before then, as with any
        JWT a client already holds)."""
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires_at = cached
            if time.time() < expires_at:
                return principal
            del self._verified[token]
        principal = await self._verify_signed(token)
        if self.settings.verified_token_cache_size > 0:
            while len(self._verified) >= self.settings.verified_token_cache_size:
                del self._verified[next(iter(self._verified))]
            expires_at = float(principal.claims["exp"]) + self.settings.jwt_leeway_seconds
            self._verified[token] = (principal, expires_at)
        return principal

    async def _verify_signed(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise NotAuthenticated("The token is malformed.", code="invalid_token") from error
        algorithm = header.get("alg")
        key: Any
        if algorithm in SYMMETRIC_ALGORITHMS and self.secret is not None:
            key = self.secret
        elif algorithm in ASYMMETRIC_ALGORITHMS and self.jwks is not None:
            key_id = header.get("kid")
            if not isinstance(key_id, str):
                raise NotAuthenticated("The token names no key id.", code="invalid_token")
            key = await self.jwks.key_for(key_id)
        else:
            raise NotAuthenticated(
                "The token's signing algorithm is not accepted.", code="invalid_token"
            )
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                leeway=self.settings.jwt_leeway_seconds,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise NotAuthenticated("The token has expired.", code="token_expired") from error
        except jwt.InvalidAudienceError as error:
            raise NotAuthenticated(
                "The token is not meant for this service.", code="invalid_audience"
            ) from error
        except jwt.InvalidTokenError as error:
            raise NotAuthenticated("The token is not valid.", code="invalid_token") from error
        return Principal(subject=str(claims["sub"]), role=role_from_claims(claims), claims=claims)


def mint_token(
    settings: Settings,
    *,
    role: Role,
    subject: str | None = None,
    ttl_seconds: int | None = None,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    secret = signing_secret(settings)
    if secret is None:
        raise RuntimeError("No HS256 secret: set SUPABASE_JWT_SECRET to mint tokens")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject or str(uuid.uuid4()),
        # Shaped like a Supabase Auth token, so Supabase Realtime and PostgREST accept it too:
        # the database role in `role`, ours in app_metadata (which only the server can set).
        "role": "authenticated",
        "app_metadata": {"role": role.value},
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer or MINTED_TOKEN_ISSUER,
        "iat": now,
        "exp": now + (ttl_seconds or settings.token_ttl_seconds),
        **(extra_claims or {}),
    }
    return jwt.encode(claims, secret, algorithm="HS256")
