"""Database access: one asyncpg pool, a transaction owner, the embedded server, migrations."""

from functions._shared.db.pool import (
    DbConnection,
    create_pool,
    database_lifespan,
    get_pool,
    transaction,
)

__all__ = ["DbConnection", "create_pool", "database_lifespan", "get_pool", "transaction"]
