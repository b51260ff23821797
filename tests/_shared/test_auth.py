import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from functions._shared.app import build_app, database_only_lifespan
from functions._shared.auth import AgentUser
from functions._shared.auth.local_secret import load_or_create_local_secret
from functions._shared.auth.tokens import Role, TokenVerifier, signing_secret
from functions._shared.errors import NotAuthenticated
from functions._shared.settings import Settings
from tests.conftest import bearer, running_client

SUPABASE_URL = "https://project-ref.supabase.co"
JWKS_URL = f"{SUPABASE_URL}/auth/v1/.well-known/jwks.json"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "3a8e0a4e-8f6b-4a0e-9a53-4f3c2d1b0a99",
        "aud": "authenticated",
        "iat": now,
        "exp": now + 600,
        "role": "agent",
    }
    base.update(overrides)
    return base


def app_with_agent_route(settings: Settings) -> FastAPI:
    app = build_app(title="auth test", settings=settings, lifespan=database_only_lifespan(settings))

    @app.get("/agents-only")
    async def agents_only(principal: AgentUser) -> dict[str, str]:
        return {"subject": principal.subject}

    return app


@pytest.fixture
async def agent_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(app_with_agent_route(settings)) as client:
        yield client


def hs256(settings: Settings, payload: dict[str, Any]) -> str:
    secret = signing_secret(settings)
    assert secret is not None
    return jwt.encode(payload, secret, algorithm="HS256")


async def test_minted_agent_token_is_accepted(client: httpx.AsyncClient, token_for: Any) -> None:
    response = await client.get("/me", headers=bearer(token_for("agent", subject="agent-1")))

    assert response.status_code == 200
    assert response.json() == {"subject": "agent-1", "role": "agent"}


async def test_missing_token_is_401_with_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/me")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "missing_token"


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", ""])
async def test_malformed_token_is_401(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401


async def test_expired_token_is_401(client: httpx.AsyncClient, settings: Settings) -> None:
    token = hs256(settings, claims(exp=int(time.time()) - 3600))

    response = await client.get("/me", headers=bearer(token))

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


async def test_wrong_signature_is_401(client: httpx.AsyncClient) -> None:
    token = jwt.encode(claims(), "some-other-secret-of-sufficient-length!", algorithm="HS256")

    response = await client.get("/me", headers=bearer(token))

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_wrong_audience_is_401(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.get("/me", headers=bearer(hs256(settings, claims(aud="other-app"))))

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_audience"


async def test_unsigned_alg_none_token_is_401(client: httpx.AsyncClient) -> None:
    token = jwt.encode(claims(), key=None, algorithm="none")

    response = await client.get("/me", headers=bearer(token))

    assert response.status_code == 401


async def test_token_without_expiry_is_401(client: httpx.AsyncClient, settings: Settings) -> None:
    payload = claims()
    del payload["exp"]

    response = await client.get("/me", headers=bearer(hs256(settings, payload)))

    assert response.status_code == 401


async def test_wrong_role_is_403(agent_client: httpx.AsyncClient, token_for: Any) -> None:
    response = await agent_client.get("/agents-only", headers=bearer(token_for("customer")))

    assert response.status_code == 403
    assert response.json()["code"] == "wrong_role"


async def test_supabase_user_role_comes_from_app_metadata(
    agent_client: httpx.AsyncClient, settings: Settings
) -> None:
    token = hs256(
        settings, claims(role="authenticated", app_metadata={"provider": "email", "role": "agent"})
    )

    response = await agent_client.get("/agents-only", headers=bearer(token))

    assert response.status_code == 200


async def test_supabase_user_without_app_role_is_403(
    agent_client: httpx.AsyncClient, settings: Settings
) -> None:
    token = hs256(settings, claims(role="authenticated", user_metadata={"role": "admin"}))

    response = await agent_client.get("/agents-only", headers=bearer(token))

    assert response.status_code == 403


def test_local_secret_is_generated_once_and_reused(tmp_path: Any) -> None:
    first = load_or_create_local_secret(tmp_path)
    second = load_or_create_local_secret(tmp_path)

    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0


# --- Supabase asymmetric keys through JWKS ---------------------------------------------------


@pytest.fixture
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwk_of(private_key: Any, *, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.get_algorithm_by_name(alg)
    public = json.loads(algorithm.to_jwk(private_key.public_key()))
    return {**public, "kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture
async def jwks_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    jwks_settings = settings.model_copy(update={"supabase_url": SUPABASE_URL})
    async with running_client(app_with_agent_route(jwks_settings)) as client:
        yield client


async def test_rs256_token_verified_through_jwks_and_keys_cached(
    respx_mock: respx.MockRouter, jwks_client: httpx.AsyncClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    route = respx_mock.get(JWKS_URL).respond(
        json={"keys": [jwk_of(rsa_key, kid="key-1", alg="RS256")]}
    )
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "key-1"})

    first = await jwks_client.get("/agents-only", headers=bearer(token))
    second = await jwks_client.get("/agents-only", headers=bearer(token))

    assert (first.status_code, second.status_code) == (200, 200)
    assert route.call_count == 1


async def test_es256_token_verified_through_jwks(
    respx_mock: respx.MockRouter,
    jwks_client: httpx.AsyncClient,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    respx_mock.get(JWKS_URL).respond(json={"keys": [jwk_of(ec_key, kid="ec-1", alg="ES256")]})
    token = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})

    response = await jwks_client.get("/agents-only", headers=bearer(token))

    assert response.status_code == 200


async def test_token_signed_by_unknown_key_is_401(
    respx_mock: respx.MockRouter, jwks_client: httpx.AsyncClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    respx_mock.get(JWKS_URL).respond(json={"keys": [jwk_of(rsa_key, kid="key-1", alg="RS256")]})
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), stranger, algorithm="RS256", headers={"kid": "key-2"})

    response = await jwks_client.get("/agents-only", headers=bearer(token))

    assert response.status_code == 401
    assert response.json()["code"] == "unknown_key"


async def test_token_forged_with_known_kid_but_other_key_is_401(
    respx_mock: respx.MockRouter, jwks_client: httpx.AsyncClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    respx_mock.get(JWKS_URL).respond(json={"keys": [jwk_of(rsa_key, kid="key-1", alg="RS256")]})
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), forger, algorithm="RS256", headers={"kid": "key-1"})

    response = await jwks_client.get("/agents-only", headers=bearer(token))

    assert response.status_code == 401


async def test_jwks_endpoint_down_is_503(
    respx_mock: respx.MockRouter, jwks_client: httpx.AsyncClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    respx_mock.get(JWKS_URL).respond(status_code=500)
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "key-1"})

    response = await jwks_client.get("/agents-only", headers=bearer(token))

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


async def test_service_role_token_is_refused_on_agent_route(
    agent_client: httpx.AsyncClient, token_for: Any
) -> None:
    response = await agent_client.get("/agents-only", headers=bearer(token_for(Role.SERVICE)))

    assert response.status_code == 403


async def test_verified_token_is_remembered_until_it_expires(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = TokenVerifier(settings.model_copy(update={"jwt_leeway_seconds": 0}))
    token = hs256(settings, claims(exp=int(time.time()) + 60))
    first = await verifier.verify(token)
    decoded: list[str] = []
    original_decode = jwt.decode
    monkeypatch.setattr(
        jwt, "decode", lambda *a, **k: decoded.append("x") or original_decode(*a, **k)
    )
    assert await verifier.verify(token) is first
    assert decoded == []  # the signature was not checked again
    # Past its exp (by the cache's clock), the entry is dropped and the token checked again
    # (PyJWT reads its own clock, so here it still passes).
    monkeypatch.setattr(time, "time", lambda: first.claims["exp"] + 1)
    assert await verifier.verify(token) is not first
    assert decoded == ["x"]


async def test_verified_token_cache_is_bounded_and_can_be_turned_off(settings: Settings) -> None:
    bounded = TokenVerifier(settings.model_copy(update={"verified_token_cache_size": 2}))
    tokens = [hs256(settings, claims(sub=f"agent-{n}")) for n in range(3)]
    for token in tokens:
        await bounded.verify(token)
    assert list(bounded._verified) == tokens[1:]  # the oldest went first
    off = TokenVerifier(settings.model_copy(update={"verified_token_cache_size": 0}))
    await off.verify(tokens[0])
    assert off._verified == {}


async def test_forged_token_is_never_cached(settings: Settings) -> None:
    verifier = TokenVerifier(settings)
    forged = jwt.encode(claims(), "not-the-secret-but-long-enough-for-hs256", algorithm="HS256")
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            await verifier.verify(forged)
    assert verifier._verified == {}
