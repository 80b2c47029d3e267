"""The store: every state change of a task is one atomic SQL statement or transaction.

Both backends share this SQL; they differ only in how a statement is executed and in the
few fragments listed in `Dialect` (types, JSON containment, row locking).
"""

import json
import re
from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from app.store.executor import Executor, Row
from app.store.migrations import migrate
from app.store.rows import AgentRow, NewAgent, NewTask, Outcome, TaskRow


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request."""


class TaskNotFinalizable(Exception):
    """The task is already in a final state."""


@dataclass(frozen=True)
class QueueCap:
    """At most `limit` queued (not yet leased) tasks: in all, or per submitter."""

    limit: int
    per_client: bool

    @property
    def param(self) -> str:
        """The statement parameter that holds `limit - 1`."""
        return "cap_per_client" if self.per_client else "cap_total"

    def room_sql(self) -> str:
        """True while fewer than `limit` tasks are queued: there is no limit-th queued task.
        It steps over at most `limit` entries of an index that keeps the queued tasks
        together (tasks_queue, tasks_queued_by_submitter), however many finished tasks the
        table holds: about 50 ns an entry on SQLite, half what COUNT(*) over a LIMIT costs."""
        mine = " AND submitted_by = :submitted_by" if self.per_client else ""
        return (
            "NOT EXISTS (SELECT 1 FROM tasks WHERE status = 'queued'"  # noqa: S608 # nosec B608 (constants of ours)
            f"{mine} LIMIT 1 OFFSET :{self.param})"
        )


def queue_caps(total: int | None, per_client: int | None) -> tuple[QueueCap, ...]:
    """The caps that are set (None: no cap). Per client first: when both are reached, a
    refusal names the one the client's own backlog reached."""
    limits = ((per_client, True), (total, False))
    return tuple(QueueCap(limit, per_client=mine) for limit, mine in limits if limit)


def _cap_params(caps: tuple[QueueCap, ...]) -> dict[str, int]:
    return {cap.param: cap.limit - 1 for cap in caps}


class QueueFull(Exception):
    """A queue cap is reached, so the task was not stored."""

    def __init__(self, cap: QueueCap) -> None:
        super().__init__(f"{'per-client' if cap.per_client else 'global'} cap {cap.limit}")
        self.cap = cap


def _task(row: Row | None) -> TaskRow | None:
    return None if row is None else TaskRow.from_db(row)


@dataclass(frozen=True)
class Dialect:
    name: str
    # Column types the migrations' `{serial}` and `{real}` stand for.
    types: dict[str, str]
    # Is the task's required capability list a subset of :caps (a JSON array)?
    caps_match: str
    # Appended to the sub-select that picks the next task, so replicas never pick the same one.
    pick_lock: str
    # Appended to the claim's check that its agent is active, so removing the agent waits for
    # a claim under way and then hands the claimed task back.
    agent_lock: str


# Hands live tasks back to the queue; the caller appends which ones (constant conditions only).
_RELEASE = """
UPDATE tasks SET
  status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
  error = CASE WHEN attempts >= max_attempts
          THEN :reason || ' after ' || attempts || ' attempts' ELSE error END,
  finished_at = CASE WHEN attempts >= max_attempts THEN :now ELSE NULL END,
  agent_id = NULL, lease_id = NULL, lease_expires_at = NULL, updated_at = :now
WHERE status IN ('leased', 'running') AND """


class Store(ABC):
    dialect: Dialect

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """A unit of work: committed on success, rolled back on error."""

    def statement(self) -> AbstractAsyncContextManager[Executor]:
        """For work whose statements need no common transaction: each runs atomically."""
        return self.transaction()

    @abstractmethod
    async def close(self) -> None: ...

    async def ping(self) -> bool:
        async with self.statement() as db:
            return await db.fetchone("SELECT 1 AS ok", {}) is not None

    async def migrate(self) -> list[int]:
        """Apply the schema migrations this database lacks (app/store/migrations.py)."""
        async with self.transaction() as db:
            return await migrate(db, self.dialect.types)

    # -- tasks ---------------------------------------------------------------------------

    async def create_task(
        self, new: NewTask, caps: tuple[QueueCap, ...] = ()
    ) -> tuple[TaskRow, bool]:
        """Insert a task; with an idempotency key, return the earlier task instead of a twin.

        With caps, the insert happens only while the queue has room (QueueFull otherwise); a
        replay of an earlier task is answered as before, full queue or not. The check is part
        of the INSERT, so it costs no extra round trip. On SQLite, which runs one statement at
        a time, the caps are exact; on PostgreSQL, concurrent submits do not see each other's
        uncommitted rows, so they may overshoot a cap by up to the number of submits in
        flight (the connection pools of all replicas): a soft cap.
        """
        task = new.params()
        cols = ", ".join(task)
        values = ", ".join(f":{c}" for c in task)
        # Without caps, the plain INSERT of every submit stays as it was.
        source = f"VALUES ({values})"
        if caps:
            # WHERE also tells SQLite's parser that ON CONFLICT belongs to the INSERT.
            source = f"SELECT {values} WHERE {' AND '.join(cap.room_sql() for cap in caps)}"
        # Should an admin delete the earlier task in between, the retry is refused, not run.
        async with self.statement() as db:
            row = await db.fetchone(
                f"INSERT INTO tasks ({cols}) {source} "  # nosec B608 (our columns and caps)
                "ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL "
                "DO NOTHING RETURNING *",
                task | _cap_params(caps),
            )
            if row is not None:
                return TaskRow.from_db(row), True
            earlier = None
            if new.idempotency_key is not None:
                earlier = await db.fetchone(
                    "SELECT * FROM tasks WHERE idempotency_key = :key",
                    {"key": new.idempotency_key},
                )
            if earlier is None and caps:
                if len(caps) == 1:
                    raise QueueFull(caps[0])
                raise await self._queue_full(db, new.submitted_by, caps)
        if earlier is None or earlier["request_hash"] != new.request_hash:
            raise IdempotencyConflict
        return TaskRow.from_db(earlier), False

    async def _queue_full(
        self, db: Executor, submitted_by: str, caps: tuple[QueueCap, ...]
    ) -> QueueFull:
        """Which of the caps refused a task. On PostgreSQL a slot may have freed since the
        insert looked; the first cap (per client) is named then, as one of those reached."""
        rooms = ", ".join(f"{cap.room_sql()} AS {cap.param}" for cap in caps)
        row = await db.fetchone(
            f"SELECT {rooms}",  # nosec B608 (our caps)
            {"submitted_by": submitted_by} | _cap_params(caps),
        )
        if row is None:  # a SELECT without FROM yields one row, or raises
            raise RuntimeError("the queue count returned no row")
        full = [cap for cap in caps if not row[cap.param]]
        return QueueFull((full or list(caps))[0])

    async def get_task(self, task_id: str) -> TaskRow | None:
        async with self.statement() as db:
            return _task(await db.fetchone("SELECT * FROM tasks WHERE id = :id", {"id": task_id}))

    async def list_tasks(
        self, status: str | None, before_seq: int | None, limit: int, submitted_by: str | None
    ) -> list[TaskRow]:
        """Newest first; only one submitter's when submitted_by is given."""
        async with self.statement() as db:
            rows = await db.fetchall(
                # Casts give PostgreSQL the parameter types it cannot infer from IS NULL.
                "SELECT * FROM tasks WHERE (CAST(:status AS TEXT) IS NULL OR status = :status) "
                "AND (CAST(:before AS BIGINT) IS NULL OR seq < :before) "
                "AND (CAST(:submitter AS TEXT) IS NULL OR submitted_by = :submitter) "
                "ORDER BY seq DESC LIMIT :limit",
                {"status": status, "before": before_seq, "limit": limit, "submitter": submitted_by},
            )
        return [TaskRow.from_db(row) for row in rows]

    async def delete_task(self, task_id: str) -> bool:
        """Remove a task for good, whatever its state; False when there was none."""
        async with self.statement() as db:
            return await db.execute("DELETE FROM tasks WHERE id = :id", {"id": task_id}) == 1

    async def count_by_status(self, submitted_by: str | None) -> dict[str, int]:
        """Tasks per status; only one submitter's when submitted_by is given."""
        async with self.statement() as db:
            rows = await db.fetchall(
                "SELECT status, COUNT(*) AS n FROM tasks "
                "WHERE CAST(:submitter AS TEXT) IS NULL OR submitted_by = :submitter "
                "GROUP BY status",
                {"submitter": submitted_by},
            )
        return {row["status"]: row["n"] for row in rows}

    async def cancel_task(self, task_id: str, now: float) -> TaskRow | None:
        async with self.statement() as db:
            row = await db.fetchone(
                "UPDATE tasks SET status = 'cancelled', agent_id = NULL, lease_id = NULL, "
                "lease_expires_at = NULL, finished_at = :now, updated_at = :now "
                "WHERE id = :id AND status IN ('queued', 'leased', 'running') RETURNING *",
                {"id": task_id, "now": now},
            )
            if row is None and await db.fetchone(
                "SELECT 1 AS found FROM tasks WHERE id = :id", {"id": task_id}
            ):
                raise TaskNotFinalizable
        return _task(row)

    async def claim_task(
        self, agent_id: str, capabilities: list[str], lease_id: str, now: float, ttl: float
    ) -> TaskRow | None:
        """Lease the most urgent queued task this agent can do; None also once it is removed."""
        async with self.statement() as db:
            # The dialect fragments are constants of ours, never input.
            row = await db.fetchone(
                "UPDATE tasks SET status = 'leased', agent_id = :agent, lease_id = :lease, "  # noqa: S608 # nosec B608
                "lease_expires_at = :expires, attempts = attempts + 1, updated_at = :now "
                "WHERE id = (SELECT id FROM tasks WHERE status = 'queued' AND "
                f"{self.dialect.caps_match} ORDER BY priority DESC, seq LIMIT 1 "
                f"{self.dialect.pick_lock}) AND status = 'queued' "
                # A long poll outliving its agent (removed, deregistered) must not take work.
                "AND EXISTS (SELECT 1 FROM agents WHERE agents.id = :agent "
                f"AND agents.status = 'active' {self.dialect.agent_lock}) RETURNING *",
                {
                    "agent": agent_id,
                    "lease": lease_id,
                    "caps": json.dumps(capabilities),
                    "expires": now + ttl,
                    "now": now,
                },
            )
        return _task(row)

    async def start_task(
        self, task_id: str, agent_id: str, lease_id: str, now: float
    ) -> TaskRow | None:
        """Mark a leased task running; None when the lease is not (or no longer) this agent's."""
        async with self.statement() as db:
            row = await db.fetchone(
                "UPDATE tasks SET status = 'running', started_at = COALESCE(started_at, :now), "
                "updated_at = :now WHERE id = :id AND agent_id = :agent AND lease_id = :lease "
                "AND status IN ('leased', 'running') AND lease_expires_at >= :now RETURNING *",
                {"id": task_id, "agent": agent_id, "lease": lease_id, "now": now},
            )
        return _task(row)

    async def finish_task(
        self, task_id: str, agent_id: str, lease_id: str, outcome: Outcome, now: float
    ) -> TaskRow | None:
        """Record the result, fenced by the lease: a stale holder changes nothing (None)."""
        async with self.statement() as db:
            row = await db.fetchone(
                "UPDATE tasks SET status = :status, output = :output, "
                "output_truncated = :output_truncated, output_escaped = :output_escaped, "
                "result = :result, error = :error, "
                "finished_at = :now, updated_at = :now, lease_id = NULL, lease_expires_at = NULL "
                "WHERE id = :id AND agent_id = :agent AND lease_id = :lease "
                "AND status IN ('leased', 'running') AND lease_expires_at >= :now RETURNING *",
                {"id": task_id, "agent": agent_id, "lease": lease_id, "now": now}
                | outcome.params(),
            )
        return _task(row)

    async def reap_expired_leases(self, now: float) -> int:
        """Re-queue (or fail, when out of attempts) the tasks whose lease ran out."""
        async with self.statement() as db:
            return await db.execute(
                _RELEASE + "lease_expires_at < :now",  # nosec B608
                {"now": now, "reason": "lease expired"},
            )

    # -- agents --------------------------------------------------------------------------

    async def register_agent(self, agent: NewAgent) -> AgentRow:
        async with self.statement() as db:
            row = await db.fetchone(
                "INSERT INTO agents (id, name, capabilities, token_hash, status, created_at, "
                "last_heartbeat_at) VALUES (:id, :name, :capabilities, :token_hash, 'active', "
                ":created_at, :created_at) RETURNING *",
                agent.params(),
            )
        if row is None:  # INSERT … RETURNING yields the row, or raises
            raise RuntimeError("agent insert returned no row")
        return AgentRow.from_db(row)

    async def agent_by_token(self, token_hash: str) -> AgentRow | None:
        async with self.statement() as db:
            row = await db.fetchone(
                "SELECT * FROM agents WHERE token_hash = :hash AND status = 'active'",
                {"hash": token_hash},
            )
        return None if row is None else AgentRow.from_db(row)

    async def list_agents(self, limit: int, heard_since: float) -> list[AgentRow]:
        """Active agents that sent a heartbeat since heard_since, newest first."""
        async with self.statement() as db:
            rows = await db.fetchall(
                "SELECT * FROM agents WHERE status = 'active' "
                "AND last_heartbeat_at >= :since ORDER BY created_at DESC LIMIT :limit",
                {"limit": limit, "since": heard_since},
            )
        return [AgentRow.from_db(row) for row in rows]

    async def heartbeat(
        self, agent_id: str, lease_ids: list[str], now: float, ttl: float
    ) -> list[str]:
        """Record the agent alive and extend the named leases it still holds; returns those.

        A lease is extended only while it is this agent's and unexpired, exactly the fence of
        start and result; a lease the agent does not name runs out and is reaped.
        """
        async with self.transaction() as db:
            await db.execute(
                "UPDATE agents SET last_heartbeat_at = :now WHERE id = :id",
                {"id": agent_id, "now": now},
            )
            if not lease_ids:
                return []
            named = {f"lease{i}": lease_id for i, lease_id in enumerate(lease_ids)}
            # The placeholders are ours (lease0, lease1, …); the ids are bound as parameters.
            rows = await db.fetchall(
                "UPDATE tasks SET lease_expires_at = :expires WHERE agent_id = :id "  # noqa: S608 # nosec B608
                f"AND lease_id IN ({', '.join(f':{name}' for name in named)}) "
                "AND status IN ('leased', 'running') AND lease_expires_at >= :now "
                "RETURNING lease_id",
                {"id": agent_id, "now": now, "expires": now + ttl} | named,
            )
        extended = {row["lease_id"] for row in rows}
        return [lease_id for lease_id in lease_ids if lease_id in extended]

    async def kill_agent(self, agent_id: str, now: float) -> tuple[bool, int]:
        """Retire the agent and hand its tasks back to the queue: (was active, tasks released)."""
        async with self.transaction() as db:
            killed = await db.execute(
                "UPDATE agents SET status = 'killed' WHERE id = :id AND status = 'active'",
                {"id": agent_id},
            )
            released = await db.execute(
                _RELEASE + "agent_id = :agent",  # nosec B608
                {"agent": agent_id, "now": now, "reason": "agent killed"},
            )
        return killed == 1, released


def named_to_pyformat(sql: str) -> str:
    """:name → %(name)s for psycopg, leaving ::casts alone."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql.replace("%", "%%"))
