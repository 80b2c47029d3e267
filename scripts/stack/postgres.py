"""A throwaway PostgreSQL server (Debian's binaries) for tests and the scale-out demo."""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from scripts.stack.service import Service, free_port

_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def postgres_bin_dir() -> Path:
    found = sorted(glob.glob(_BIN_GLOB))
    if not found:
        raise FileNotFoundError(
            "PostgreSQL server binaries not found: `apt-get install postgresql` "
            "(scripts/bootstrap.sh does it)"
        )
    return Path(found[-1])


def _demote_to(user: str) -> Callable[[], None] | None:
    """initdb and postgres refuse to run as root: drop to the postgres account when root."""
    if os.geteuid() != 0:
        return None
    account = pwd.getpwnam(user)

    def demote() -> None:
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)

    return demote


class PostgresProcess(Service):
    """initdb into a temporary directory, serve on a free loopback port, remove on exit."""

    def __init__(self, user: str = "postgres") -> None:
        self.port = free_port()
        self._bin = postgres_bin_dir()
        self._demote = _demote_to(user)
        self._owner = pwd.getpwnam(user) if self._demote else None
        self._dir = Path(tempfile.mkdtemp(prefix="hypercode-pg-"))
        self._process: subprocess.Popen[bytes] | None = None

    def _run_as_owner(self, *args: str) -> None:
        subprocess.run(  # noqa: S603 (fixed binaries of the PostgreSQL install)
            args, check=True, capture_output=True, preexec_fn=self._demote
        )

    def start(self) -> None:
        data = self._dir / "data"
        if self._owner:
            os.chown(self._dir, self._owner.pw_uid, self._owner.pw_gid)
        self._run_as_owner(
            str(self._bin / "initdb"), "-D", str(data), "-U", "postgres",
            "--auth=trust", "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        log = (self._dir / "server.log").open("ab")
        server = [str(self._bin / "postgres"), "-D", str(data), "-p", str(self.port)]
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self._dir),
            "fsync": "off",  # throwaway test data: speed over crash safety of the test server
            "max_connections": "200",
        }
        for name, value in settings.items():
            server += ["-c", f"{name}={value}"]
        self._process = subprocess.Popen(  # noqa: S603
            server,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=self._demote,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        for _ in range(300):
            ready = subprocess.run(  # noqa: S603
                [str(self._bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError((self._dir / "server.log").read_text())
            time.sleep(0.1)
        raise TimeoutError("PostgreSQL did not become ready in 30 s")

    def create_database(self) -> str:
        """A fresh database; returns its URL."""
        name = f"hc_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=30)
        shutil.rmtree(self._dir, ignore_errors=True)
