"""Storage: the database (SQLite or PostgreSQL, one interface) and one repository class per
aggregate."""

from bot.storage.database import (
    Connection,
    Database,
    DatabaseTooNewError,
    DatabaseUnavailableError,
    IntegrityError,
    Migration,
    MigrationError,
    RetryableTransactionError,
    load_migrations,
)

__all__ = [
    "Connection",
    "Database",
    "DatabaseTooNewError",
    "DatabaseUnavailableError",
    "IntegrityError",
    "Migration",
    "MigrationError",
    "RetryableTransactionError",
    "load_migrations",
]
