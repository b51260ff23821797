import asyncio

import pytest
from typer.testing import CliRunner

from functions._shared.auth.tokens import Role, TokenVerifier
from functions._shared.db.migrations import discover_migrations
from functions._shared.settings import Settings, get_settings
from gateway.cli import cli
from tests.conftest import MIGRATIONS_DIR

runner = CliRunner()


async def test_token_command_prints_a_token_the_verifier_accepts(settings: Settings) -> None:
    result = await asyncio.to_thread(
        runner.invoke, cli, ["token", "--role", "agent", "--sub", "agent-7", "--ttl", "60"]
    )

    assert result.exit_code == 0, result.output
    principal = await TokenVerifier(settings).verify(result.stdout.strip())
    assert (principal.subject, principal.role) == ("agent-7", Role.AGENT)


async def test_token_command_refuses_an_unknown_role() -> None:
    result = await asyncio.to_thread(runner.invoke, cli, ["token", "--role", "superuser"])

    assert result.exit_code != 0


async def test_db_migrate_applies_then_reports_nothing_to_do(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    get_settings.cache_clear()
    try:
        first = await asyncio.to_thread(runner.invoke, cli, ["db", "migrate"])
        second = await asyncio.to_thread(runner.invoke, cli, ["db", "migrate"])
    finally:
        get_settings.cache_clear()

    total = len(discover_migrations(MIGRATIONS_DIR))
    assert first.exit_code == 0, first.output
    assert f"{total} applied" in first.output
    assert "0 applied" in second.output
    assert f"{total} already applied" in second.output
