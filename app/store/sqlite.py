"""Embedded SQLite store: one connection, used from the event loop thread.

Statements are short and local, so running them inline is cheaper than a thread hop;
with no `await` inside a transaction, no other request can interleave with it.

Group commit: the units of work (statements and transactions) that run in one turn of the
event loop share one SQLite transaction, committed at the start of the next turn. Each
unit's caller resumes only after that commit, so no answer (a 202 above all) rests on a
write that a kill -9 could still take back; a commit per request instead wrote the same
table and index pages to the WAL once per submit (docs/benchmarks.md).
"""

import asyncio
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
    agent_lock="",
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
        self._batch: asyncio.Future[None] | None = None  # the open batch's commit
        self._depth = 0  # units entered and not left; > 1 only when one holds another

    def _join_batch(self) -> asyncio.Future[None]:
        if self._batch is None:
            self._conn.execute("BEGIN IMMEDIATE")
            loop = asyncio.get_running_loop()
            self._batch = loop.create_future()
            loop.call_soon(self._commit, self._batch)
        return self._batch

    def _commit(self, batch: asyncio.Future[None]) -> None:
        if batch is not self._batch:
            return  # close() committed it already
        self._batch = None
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as error:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            batch.set_exception(error)
        else:
            batch.set_result(None)

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[Executor]:
        committed = self._join_batch()
        self._depth += 1
        try:
            yield self._executor
        finally:
            self._depth -= 1
            if not self._depth:
                # The outermost unit waits, error or not: either answer may rest on what the
                # batch wrote. Shielded: one caller that goes away must not cancel the rest.
                await asyncio.shield(committed)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        # A savepoint undoes this unit alone, not the others in its batch.
        async with self.statement() as db:
            self._conn.execute("SAVEPOINT unit")
            try:
                yield db
            except BaseException:
                # Some errors (a full disk) end the whole transaction: COMMIT then fails the batch.
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK TO unit")
                    self._conn.execute("RELEASE unit")
                raise
            self._conn.execute("RELEASE unit")

    async def close(self) -> None:
        if self._batch is not None:
            self._commit(self._batch)
        self._conn.close()
