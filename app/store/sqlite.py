"""Embedded SQLite store: one connection, used from the event loop thread.

Statements are short and local, so running them inline is cheaper than a thread hop;
with no `await` inside a transaction, no other request can interleave with it.
"""

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from app.store.base import Dialect, Store
from app.store.executor import Executor, Row

SQLITE = Dialect(
    name="sqlite",
    types={"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL"},
    caps_match=(
        "NOT EXISTS (SELECT 1 FROM json_each(tasks.capabilities) AS need "
        "WHERE need.value NOT IN (SELECT value FROM json_each(:caps)))"
    ),
    # SQLite serialises writers; the UPDATE … WHERE id = (SELECT …) runs as one statement.
    pick_lock="",
)


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


class _SqliteExecutor(Executor):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetchone(self, sql: str, params: Row) -> Row | None:
        row: Row | None = self._conn.execute(sql, params).fetchone()
        return row

    async def fetchall(self, sql: str, params: Row) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    async def execute(self, sql: str, params: Row) -> int:
        return self._conn.execute(sql, params).rowcount


class SqliteStore(Store):
    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = _dict_row
        # WAL + NORMAL: a commit survives a crash of the process (not of the OS) without an
        # fsync per request; busy_timeout covers a second process on the same file.
        # A 64 MiB page cache keeps the queue's indexes in memory as the table grows.
        pragmas = (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=5000",
            "cache_size=-65536",
        )
        for pragma in pragmas:
            self._conn.execute(f"PRAGMA {pragma}")
        self._executor = _SqliteExecutor(self._conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._executor
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[Executor]:
        # Autocommit mode: the statement is its own transaction; BEGIN/COMMIT would only add
        # two round trips through the SQLite library.
        yield self._executor

    async def close(self) -> None:
        self._conn.close()
