"""PostgreSQL for tests and the scale-out demo: a throwaway server (Debian's binaries), or
the one SWARM_TEST_POSTGRES_URL names (the pipeline's test stage runs it as a Dagger service).
"""

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from harness.service import Service, free_port

_BIN_GLOB = "/usr/lib/postgresql/*/bin"
# Same name in pipeline/src/swarm_pipeline/main.py (tests/pipeline/test_module.py checks it).
TEST_SERVER_VARIABLE = "SWARM_TEST_POSTGRES_URL"


def postgres_bin_dir() -> Path:
    found = sorted(glob.glob(_BIN_GLOB))
    if not found:
        raise FileNotFoundError(
            "PostgreSQL server binaries not found: `apt-get install postgresql` "
            "(scripts/bootstrap.sh does it)"
        )
    return Path(found[-1])


def _run_as(user: str | None, *args: str) -> None:
    subprocess.run(  # noqa: S603 (fixed binaries of the PostgreSQL install)
        args,
        check=True,
        capture_output=True,
        user=user,
        group=user,
        extra_groups=[] if user else None,
    )


class PostgresDatabases(ABC):
    """A PostgreSQL server that hands out fresh databases, one per caller."""

    @abstractmethod
    def url(self, database: str) -> str: ...

    def create_database(self) -> str:
        """A fresh database; returns its URL."""
        name = f"hc_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)


class ExternalPostgres(PostgresDatabases):
    """A server that runs elsewhere, given by the URL of one of its databases."""

    def __init__(self, url: str) -> None:
        self._url = urlsplit(url)

    def url(self, database: str) -> str:
        return self._url._replace(path=f"/{database}").geturl()


def given_test_server() -> PostgresDatabases | None:
    """The server SWARM_TEST_POSTGRES_URL names, if it names one."""
    url = os.environ.get(TEST_SERVER_VARIABLE)
    return ExternalPostgres(url) if url else None


class PostgresProcess(Service, PostgresDatabases):
    """initdb into a temporary directory, serve on a free loopback port, remove on exit."""

    def __init__(self, user: str = "postgres", *, fsync: bool = False) -> None:
        self.port = free_port()
        self._fsync = fsync
        self._bin = postgres_bin_dir()
        self._dir = Path(tempfile.mkdtemp(prefix="hypercode-pg-"))
        super().__init__(f"postgres:{self.port}", self._dir / "server.log")
        # initdb and postgres refuse to run as root: drop to the postgres account when root.
        self.user = user if os.geteuid() == 0 else None
        self.cwd = self._dir

    def command(self) -> list[str]:
        server = [str(self._bin / "postgres"), "-D", str(self._dir / "data"), "-p", str(self.port)]
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self._dir),
            # Throwaway test data: speed over crash safety, unless a benchmark asks for it.
            "fsync": "on" if self._fsync else "off",
            "max_connections": "200",
        }
        for name, value in settings.items():
            server += ["-c", f"{name}={value}"]
        return server

    def start(self, timeout: float | None = None) -> None:
        if self.user:
            shutil.chown(self._dir, self.user, self.user)
        _run_as(
            self.user, str(self._bin / "initdb"), "-D", str(self._dir / "data"), "-U", "postgres",
            "--auth=trust", "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        super().start(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = subprocess.run(  # noqa: S603
                [str(self._bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            if self.returncode is not None:
                raise RuntimeError(self.log())
            time.sleep(0.1)
        raise TimeoutError(f"PostgreSQL did not become ready in {timeout} s")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self, timeout: float | None = None) -> int | None:
        code = super().stop(timeout)
        shutil.rmtree(self._dir, ignore_errors=True)
        return code
