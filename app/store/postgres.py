"""PostgreSQL store for several core replicas: FOR UPDATE SKIP LOCKED hands each task to one."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.store.base import Dialect, Store, named_to_pyformat
from app.store.executor import Executor, Row
from app.store.migrations import migrate

POSTGRES = Dialect(
    name="postgres",
    types={"serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "real": "DOUBLE PRECISION"},
    caps_match="tasks.capabilities::jsonb <@ :caps::jsonb",
    pick_lock="FOR UPDATE SKIP LOCKED",
    agent_lock="FOR SHARE",
)

# Several replicas may migrate the schema at once; the lock makes the others wait.
_SCHEMA_LOCK_ID = 0x4859504552  # "HYPER"


class DatabaseNotUtf8(RuntimeError):
    """The PostgreSQL database does not store text as UTF-8."""


@lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    return named_to_pyformat(sql)


class _PostgresExecutor(Executor):
    def __init__(self, conn: AsyncConnection[Row]) -> None:
        self._conn = conn

    async def fetchone(self, sql: str, params: Row) -> Row | None:
        cursor = await self._conn.execute(_pyformat(sql), params)
        return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Row) -> list[Row]:
        cursor = await self._conn.execute(_pyformat(sql), params)
        return await cursor.fetchall()

    async def execute(self, sql: str, params: Row) -> int:
        cursor = await self._conn.execute(_pyformat(sql), params)
        return cursor.rowcount


class PostgresStore(Store):
    dialect = POSTGRES

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self._pool: AsyncConnectionPool[AsyncConnection[Row]] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            open=False,
            kwargs={"row_factory": dict_row, "autocommit": False},
        )

    async def open(self) -> None:
        await self._pool.open(wait=True, timeout=30)
        async with self._pool.connection() as conn:
            encoding = conn.info.parameter_status("server_encoding")
        if encoding != "UTF8":
            await self._pool.close()
            raise DatabaseNotUtf8(
                f"the database's encoding is {encoding}; hypercode-core needs UTF8 (psycopg "
                "hands back bytes from a SQL_ASCII database, so keys and hashes never match): "
                "create it with ENCODING 'UTF8', or the server with initdb -E UTF8"
            )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._pool.connection() as conn, conn.transaction():
            yield _PostgresExecutor(conn)

    async def migrate(self) -> list[int]:
        async with self.transaction() as db:
            await db.execute(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK_ID})", {})
            return await migrate(db, self.dialect.types)

    async def close(self) -> None:
        await self._pool.close()
