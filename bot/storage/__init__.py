"""Storage: the SQLite database and one repository class per aggregate."""

from bot.storage.database import (
    Database,
    DatabaseTooNewError,
    Migration,
    MigrationError,
    load_migrations,
)

__all__ = ["Database", "DatabaseTooNewError", "Migration", "MigrationError", "load_migrations"]
