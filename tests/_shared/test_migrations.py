import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from functions._shared.db.migrations import (
    MigrationError,
    apply_migrations,
    discover_migrations,
)
from tests.conftest import MIGRATIONS_DIR

SCHEMA_SNAPSHOT = """
select string_agg(item, ',' order by item) from (
    select 'table:' || table_schema || '.' || table_name as item
    from information_schema.tables where table_schema not in ('pg_catalog', 'information_schema')
    union all
    select 'function:' || n.nspname || '.' || p.proname
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname in ('public', 'auth')
    union all
    select 'policy:' || tablename || '.' || policyname from pg_policies
) snapshot
"""


@pytest.fixture
async def connection(fresh_database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(fresh_database)
    yield conn
    await conn.close()


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target)
    return target


async def test_migrations_apply_twice_without_change(connection: asyncpg.Connection) -> None:
    migrations = discover_migrations(MIGRATIONS_DIR)

    first = await apply_migrations(connection, migrations)
    snapshot = await connection.fetchval(SCHEMA_SNAPSHOT)
    second = await apply_migrations(connection, migrations)

    assert first.applied == [m.version for m in migrations]
    assert second.applied == []
    assert second.unchanged == first.applied
    assert await connection.fetchval(SCHEMA_SNAPSHOT) == snapshot
    assert "table:public.agent_profiles" in snapshot


async def test_changed_applied_migration_is_refused(
    connection: asyncpg.Connection, migrations_copy: Path
) -> None:
    await apply_migrations(connection, discover_migrations(migrations_copy))
    first_file = sorted(migrations_copy.glob("*.sql"))[0]
    first_file.write_text(first_file.read_text() + "\n-- edited after release\n")
    later_file = migrations_copy / "29990101000000_later.sql"
    later_file.write_text("create table later_table (id int);")

    with pytest.raises(MigrationError, match="changed after it was applied"):
        await apply_migrations(connection, discover_migrations(migrations_copy))

    assert await connection.fetchval("select to_regclass('public.later_table')") is None


async def test_failing_migration_rolls_back_and_is_not_recorded(
    connection: asyncpg.Connection, migrations_copy: Path
) -> None:
    broken = migrations_copy / "29990101000000_broken.sql"
    broken.write_text("create table half_done (id int);\nselect no_such_function();")

    with pytest.raises(asyncpg.UndefinedFunctionError):
        await apply_migrations(connection, discover_migrations(migrations_copy))

    assert await connection.fetchval("select to_regclass('public.half_done')") is None
    recorded = await connection.fetchval(
        "select count(*) from ccos.schema_migrations where version = '29990101000000'"
    )
    assert recorded == 0


async def test_versions_applied_by_supabase_cli_are_adopted_not_rerun(
    connection: asyncpg.Connection, migrations_copy: Path
) -> None:
    await apply_migrations(connection, discover_migrations(migrations_copy))
    # A migration that would fail if run again, recorded as applied by `supabase db push`.
    (migrations_copy / "29990101000000_pushed.sql").write_text("create table pushed (id int);")
    await connection.execute("create table pushed (id int)")
    await connection.execute(
        "create schema supabase_migrations;"
        "create table supabase_migrations.schema_migrations (version text primary key);"
        "insert into supabase_migrations.schema_migrations values ('29990101000000');"
    )

    report = await apply_migrations(connection, discover_migrations(migrations_copy))

    assert report.adopted == ["29990101000000"]
    assert report.applied == []


async def test_concurrent_runners_apply_each_migration_once(fresh_database: str) -> None:
    migrations = discover_migrations(MIGRATIONS_DIR)
    connections = [await asyncpg.connect(fresh_database) for _ in range(3)]
    try:
        reports = await asyncio.gather(
            *(apply_migrations(conn, migrations) for conn in connections)
        )
    finally:
        for conn in connections:
            await conn.close()

    applied = [version for report in reports for version in report.applied]
    assert sorted(applied) == [m.version for m in migrations]


def test_misnamed_migration_file_is_refused(migrations_copy: Path) -> None:
    (migrations_copy / "add_things.sql").write_text("select 1;")

    with pytest.raises(MigrationError, match="does not follow"):
        discover_migrations(migrations_copy)
