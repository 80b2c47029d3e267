"""What a queue cap costs a submit: the store's create_task on SQLite, with and without caps,
with the queue just under the cap (accepted) and at it (refused).

The cap check steps over the queued tasks' index entries up to the cap, so its cost grows
with the cap, not with the table: the database also holds finished tasks, which the check
must not read. Store calls in one process, no HTTP: the difference between the columns is
the check itself (docs/benchmarks.md, "Queue caps").

    .venv/bin/python -m tests.bench.bench_queue_cap --caps 100 1000 10000
"""

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from app.store import QueueCap, QueueFull, queue_caps
from app.store.rows import NewTask
from app.store.sqlite import SqliteStore

FINISHED_TASKS = 20_000
CLIENT = "bench"


def new_task() -> NewTask:
    return NewTask(
        id=str(uuid.uuid4()), kind="python", payload={"code": "print(1)"}, priority=0,
        capabilities=["python"], timeout_s=10, max_attempts=3, traceparent=None,
        idempotency_key=None, request_hash=None, submitted_by=CLIENT, created_at=time.time(),
    )  # fmt: skip


async def microseconds_per_submit(
    store: SqliteStore, caps: tuple[QueueCap, ...], submits: int, *, undo: bool
) -> float:
    """Mean time of one create_task; `undo` deletes each new task again (untimed), so the
    queue stays just under the cap."""
    spent = 0.0
    for _ in range(submits):
        started = time.perf_counter()
        try:
            row, _ = await store.create_task(new_task(), caps)
        except QueueFull:
            row = None
        spent += time.perf_counter() - started
        if undo and row is not None:
            await store.delete_task(row.id)
    return 1e6 * spent / submits


async def measure(cap: int, both: bool, submits: int, workdir: Path) -> dict[str, float]:
    store = SqliteStore(workdir / f"cap-{cap}-{both}.db")
    await store.migrate()
    caps = queue_caps(cap, cap if both else None)
    async with store.transaction():
        for _ in range(FINISHED_TASKS):
            await store.create_task(new_task())
    async with store.statement() as db:
        await db.execute("UPDATE tasks SET status = 'succeeded'", {})
    async with store.transaction():
        for _ in range(cap - 1):
            await store.create_task(new_task())
    figures = {
        "uncapped": await microseconds_per_submit(store, (), submits, undo=True),
        "accepted": await microseconds_per_submit(store, caps, submits, undo=True),
    }
    await store.create_task(new_task(), caps)  # the queue is at its cap now
    figures["refused"] = await microseconds_per_submit(store, caps, submits, undo=False)
    await store.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caps", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--submits", type=int, default=1000, help="timed submits per figure")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-queue-cap-"))
    print(f"µs per submit, SQLite, {FINISHED_TASKS} finished tasks in the table")
    print(f"{'cap':>6} {'caps set':<20} {'no cap':>8} {'accepted':>9} {'refused':>8}")
    for cap in args.caps:
        for both in (False, True):
            figures = asyncio.run(measure(cap, both, args.submits, workdir))
            label = "global + per client" if both else "global"
            print(
                f"{cap:>6} {label:<20} {figures['uncapped']:>8.0f} "
                f"{figures['accepted']:>9.0f} {figures['refused']:>8.0f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
