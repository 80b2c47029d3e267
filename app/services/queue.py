"""Long-poll leasing: wake waiting agents when work arrives instead of hammering the store."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress

from app.store.base import Store
from app.store.rows import TaskRow
from contract.wire import new_lease_id


class QueueSignal:
    """Wakes every waiter once per notify; waiters then race for the task in the store."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.closed = False

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def close(self) -> None:
        """The server is stopping: wake every waiter, and wait no more."""
        self.closed = True
        self.notify()

    async def wait(self, seconds: float) -> None:
        with suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()


async def lease_next(
    store: Store,
    signal: QueueSignal,
    agent_id: str,
    capabilities: list[str],
    *,
    wait_s: float,
    ttl: float,
    poll_interval: float,
    caller_gone: Callable[[], Awaitable[bool]],
) -> TaskRow | None:
    """Claim a task for the agent, waiting up to wait_s for one to appear.

    Besides this process's signal, the store is re-checked every poll_interval: another
    replica may have queued the task, or a lease elsewhere may have expired. Once the caller
    has hung up (an agent stopping or killed mid-poll), nothing is claimed: a task leased to
    a closed connection would wait out its lease and spend one of its attempts. Once the
    signal is closed (the server stopping), the poll looks once more and answers.
    """
    deadline = time.monotonic() + wait_s
    while True:
        row = await store.claim_task(agent_id, capabilities, new_lease_id(), time.time(), ttl)
        remaining = deadline - time.monotonic()
        if row is not None or remaining <= 0 or signal.closed:
            return row
        await signal.wait(min(remaining, poll_interval))
        if await caller_gone():
            return None
