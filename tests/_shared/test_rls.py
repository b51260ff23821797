"""Row-level security on agents' profiles, with claims set the way Supabase sets them."""

import json
import uuid

import asyncpg
import pytest

AGENT_ID = uuid.uuid4()
OTHER_AGENT_ID = uuid.uuid4()
SUPERVISOR_ID = uuid.uuid4()


@pytest.fixture
async def profiles(db: asyncpg.Connection) -> asyncpg.Connection:
    await db.executemany(
        "insert into agent_profiles (user_id, email, display_name, role) values ($1, $2, $3, $4)",
        [
            (AGENT_ID, f"{AGENT_ID}@example.com", "김상담", "agent"),
            (OTHER_AGENT_ID, f"{OTHER_AGENT_ID}@example.com", "이상담", "agent"),
            (SUPERVISOR_ID, f"{SUPERVISOR_ID}@example.com", "박팀장", "supervisor"),
        ],
    )
    return db


async def act_as(db: asyncpg.Connection, role: str, claims: dict[str, object] | None) -> None:
    await db.execute(f"set local role {role}")
    if claims is not None:
        await db.execute("select set_config('request.jwt.claims', $1, true)", json.dumps(claims))


def supabase_claims(user_id: uuid.UUID, app_role: str) -> dict[str, object]:
    return {
        "sub": str(user_id),
        "role": "authenticated",
        "aud": "authenticated",
        "app_metadata": {"provider": "email", "role": app_role},
    }


async def visible_profiles(db: asyncpg.Connection) -> set[uuid.UUID]:
    return {row["user_id"] for row in await db.fetch("select user_id from agent_profiles")}


async def test_agent_reads_only_its_own_profile(profiles: asyncpg.Connection) -> None:
    await act_as(profiles, "authenticated", supabase_claims(AGENT_ID, "agent"))

    assert await visible_profiles(profiles) == {AGENT_ID}


async def test_supervisor_reads_every_profile(profiles: asyncpg.Connection) -> None:
    await act_as(profiles, "authenticated", supabase_claims(SUPERVISOR_ID, "supervisor"))

    assert {AGENT_ID, OTHER_AGENT_ID, SUPERVISOR_ID} <= await visible_profiles(profiles)


async def test_agent_claiming_supervisor_in_user_metadata_is_not_promoted(
    profiles: asyncpg.Connection,
) -> None:
    claims = supabase_claims(AGENT_ID, "agent")
    claims["user_metadata"] = {"role": "supervisor"}  # users can write user_metadata themselves
    await act_as(profiles, "authenticated", claims)

    assert await visible_profiles(profiles) == {AGENT_ID}


async def test_anon_reads_nothing_even_with_supabase_default_grants(
    profiles: asyncpg.Connection,
) -> None:
    # Supabase grants anon select on public tables by default; RLS must still hide every row.
    await profiles.execute("grant select on agent_profiles to anon")
    await act_as(profiles, "anon", {"role": "anon"})

    assert await visible_profiles(profiles) == set()


async def test_authenticated_user_cannot_write_profiles(profiles: asyncpg.Connection) -> None:
    await act_as(profiles, "authenticated", supabase_claims(AGENT_ID, "admin"))

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await profiles.execute("update agent_profiles set role = 'admin'")
