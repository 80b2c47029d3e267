"""What a backend implements to run one statement; the store and the migrations use it."""

from abc import ABC, abstractmethod
from typing import Any

# A raw row or a statement's parameters, as the drivers take and give them.
Row = dict[str, Any]


class Executor(ABC):
    """Runs one statement; named parameters are written :name in the SQL."""

    @abstractmethod
    async def fetchone(self, sql: str, params: Row) -> Row | None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Row) -> list[Row]: ...

    @abstractmethod
    async def execute(self, sql: str, params: Row) -> int: ...
