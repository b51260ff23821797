"""Applies ``supabase/migrations/*.sql`` in order, once each, refusing edited history.

Bookkeeping lives in ``ccos.schema_migrations`` (version, name, sha256). A version that the
Supabase CLI already applied (``supabase db push`` records it in
``supabase_migrations.schema_migrations``) is adopted, not run again, so the CLI and
``ccos db migrate`` can both be used on one database. A transaction-scoped advisory lock
serialises concurrent runners (several machines releasing at once, parallel test workers).
"""

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import structlog

from functions._shared.db.pool import DbConnection, resolve_database_url
from functions._shared.settings import Settings

logger = structlog.get_logger(__name__)

# Supabase CLI convention: <14-digit UTC timestamp>_<name>.sql
MIGRATION_FILE = re.compile(r"^(?P<version>\d{14})_(?P<name>[a-z0-9_]+)\.sql$")
_LOCK_KEY = 7_206_915_311  # arbitrary, fixed: the advisory lock all runners agree on


class MigrationError(RuntimeError):
    """A migration cannot be applied safely; nothing after it was run."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str
    checksum: str


@dataclass
class MigrationReport:
    applied: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def discover_migrations(directory: Path) -> list[Migration]:
    if not directory.is_dir():
        raise MigrationError(f"Migrations folder not found: {directory}")
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = MIGRATION_FILE.match(path.name)
        if match is None:
            raise MigrationError(
                f"Migration file name {path.name!r} does not follow <YYYYMMDDHHMMSS>_<name>.sql"
            )
        content = path.read_bytes()
        migrations.append(
            Migration(
                version=match["version"],
                name=match["name"],
                sql=content.decode("utf-8"),
                checksum=hashlib.sha256(content).hexdigest(),
            )
        )
    versions = [migration.version for migration in migrations]
    if len(versions) != len(set(versions)):
        raise MigrationError("Two migration files share one version")
    return migrations


_BOOKKEEPING_SQL = """
create schema if not exists ccos;
create table if not exists ccos.schema_migrations (
    version text primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now(),
    adopted boolean not null default false
);
"""


async def _versions_applied_by_supabase_cli(connection: DbConnection) -> set[str]:
    table = await connection.fetchval(
        "select to_regclass('supabase_migrations.schema_migrations')::text"
    )
    if table is None:
        return set()
    rows = await connection.fetch("select version from supabase_migrations.schema_migrations")
    return {row["version"] for row in rows}


async def apply_migrations(
    connection: DbConnection, migrations: list[Migration]
) -> MigrationReport:
    report = MigrationReport()
    async with connection.transaction():
        await connection.execute("select pg_advisory_xact_lock($1)", _LOCK_KEY)
        await connection.execute(_BOOKKEEPING_SQL)
    for migration in migrations:
        # One transaction per migration, holding a transaction-scoped lock: session locks are
        # unsafe through Supavisor's transaction pooler (lock and unlock may reach different
        # server connections), and re-reading the record under the lock lets concurrent runners
        # each skip what another just applied.
        async with connection.transaction():
            await connection.execute("select pg_advisory_xact_lock($1)", _LOCK_KEY)
            recorded_checksum = await connection.fetchval(
                "select checksum from ccos.schema_migrations where version = $1",
                migration.version,
            )
            if recorded_checksum is not None:
                if recorded_checksum != migration.checksum:
                    raise MigrationError(
                        f"Migration {migration.version}_{migration.name}.sql was changed after it "
                        "was applied; add a new migration instead of editing an applied one"
                    )
                report.unchanged.append(migration.version)
                continue
            adopted = migration.version in await _versions_applied_by_supabase_cli(connection)
            if not adopted:
                await connection.execute(migration.sql)
            await connection.execute(
                "insert into ccos.schema_migrations (version, name, checksum, adopted) "
                "values ($1, $2, $3, $4)",
                migration.version,
                migration.name,
                migration.checksum,
                adopted,
            )
        (report.adopted if adopted else report.applied).append(migration.version)
        logger.info("migration_recorded", version=migration.version, adopted=adopted)
    return report


async def migrate_database(settings: Settings) -> MigrationReport:
    """Apply every pending migration to the configured (or embedded) database."""
    dsn = await resolve_database_url(settings)
    connection = await asyncpg.connect(
        dsn,
        timeout=settings.database_connect_timeout_seconds,
        statement_cache_size=100 if settings.database_prepared_statements else 0,
    )
    try:
        return await apply_migrations(connection, discover_migrations(settings.migrations_dir))
    finally:
        await connection.close()
