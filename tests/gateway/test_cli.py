import asyncio
import uuid
from pathlib import Path

import asyncpg
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


async def test_kb_ingest_indexes_files_and_skips_them_the_second_time(
    tmp_path: Path, database_url: str
) -> None:
    marker = uuid.uuid4().hex
    (tmp_path / "shipping.md").write_text(f"# 배송 안내 {marker}\n\n배송은 보통 2~3일 걸립니다.")
    (tmp_path / "README.md").write_text("not a KB document")
    (tmp_path / "notes.docx").write_bytes(b"ignored")

    first = await asyncio.to_thread(runner.invoke, cli, ["kb", "ingest", str(tmp_path)])
    second = await asyncio.to_thread(runner.invoke, cli, ["kb", "ingest", str(tmp_path)])

    assert first.exit_code == 0, first.output
    assert "ready" in first.output
    assert "unchanged" in second.output
    connection = await asyncpg.connect(database_url)
    try:
        count = await connection.fetchval(
            "select count(*) from kb_documents where title like $1", f"%{marker}%"
        )
    finally:
        await connection.close()
    assert count == 1


async def test_embed_reprocess_needs_exactly_one_scope() -> None:
    result = await asyncio.to_thread(runner.invoke, cli, ["embed", "reprocess"])

    assert result.exit_code == 2
