"""Versioned schema migrations, applied at start on SQLite and PostgreSQL.

A migration is a numbered SQL template; `{serial}` and `{real}` become the dialect's types.
`migrate` runs every one the database has not recorded in `schema_migrations`, all in one
transaction, so a failed start leaves the schema as it was. On PostgreSQL an advisory lock
makes concurrent replicas wait for the first one; SQLite's BEGIN IMMEDIATE does the same.

Why a small runner of our own rather than a tool: the store speaks raw sqlite3/psycopg,
async, through its own connections. Alembic needs SQLAlchemy (an engine and driver layer
next to ours, only for DDL); yoyo-migrations opens its own synchronous connections with its
own URL schemes. The steps here are a few SQL statements per release, and running them in
the store's own transaction (with its lock) is less code than wiring up either tool.

Rules: never edit a migration that has shipped; add the next number. Migration 1 is the
schema of every release before migrations existed (`CREATE … IF NOT EXISTS`), so a database
made by one of them is adopted as version 1 and upgraded from there.
"""

import logging
import time
from dataclasses import dataclass

from app.store.executor import Executor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


MIGRATIONS = (
    Migration(
        1,
        "tasks and agents",
        """
CREATE TABLE IF NOT EXISTS tasks (
  seq {serial},
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  payload TEXT NOT NULL,
  priority INTEGER NOT NULL,
  capabilities TEXT NOT NULL,
  timeout_s {real} NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  agent_id TEXT,
  lease_id TEXT,
  lease_expires_at {real},
  result TEXT,
  output TEXT,
  output_truncated BOOLEAN NOT NULL DEFAULT FALSE,
  error TEXT,
  traceparent TEXT,
  idempotency_key TEXT,
  request_hash TEXT,
  submitted_by TEXT NOT NULL,
  created_at {real} NOT NULL,
  updated_at {real} NOT NULL,
  started_at {real},
  finished_at {real}
);
-- Partial: most tasks carry no key, and they need no entry in this index.
CREATE UNIQUE INDEX IF NOT EXISTS tasks_idempotency ON tasks (idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_queue ON tasks (status, priority DESC, seq);
CREATE INDEX IF NOT EXISTS tasks_agent ON tasks (agent_id) WHERE agent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_lease_expiry ON tasks (lease_expires_at)
  WHERE lease_expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  capabilities TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL,
  created_at {real} NOT NULL,
  last_heartbeat_at {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS agents_active ON agents (status, created_at)
""",
    ),
    Migration(
        2,
        "output escaping flag; tasks by submitter",
        """
-- Set when NUL characters in a result's output or error were stored replaced.
ALTER TABLE tasks ADD COLUMN output_escaped BOOLEAN NOT NULL DEFAULT FALSE;
-- A client key lists only its own tasks, newest first.
CREATE INDEX tasks_submitter ON tasks (submitted_by, seq)
""",
    ),
    Migration(
        3,
        "queued tasks by submitter",
        """
-- The per-client cap on queued tasks counts one client's queued tasks on every submit: only
-- queued rows are in this index, so a client's finished history costs the count nothing;
-- status in the key lets SQLite count from the index alone, without reading the rows.
CREATE INDEX tasks_queued_by_submitter ON tasks (submitted_by, status) WHERE status = 'queued'
""",
    ),
)
LATEST = MIGRATIONS[-1].version

_VERSIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at {real} NOT NULL
)"""


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer release than this one."""


def statements(sql: str, types: dict[str, str]) -> list[str]:
    """The template's statements for one dialect (no `;` inside statements, by rule)."""
    return [s for s in sql.format(**types).split(";") if s.strip()]


async def migrate(db: Executor, types: dict[str, str]) -> list[int]:
    """Bring the schema to LATEST inside the caller's transaction; returns what was applied."""
    for statement in statements(_VERSIONS, types):
        await db.execute(statement, {})
    rows = await db.fetchall("SELECT version FROM schema_migrations", {})
    done = {row["version"] for row in rows}
    if done and max(done) > LATEST:
        raise SchemaTooNew(
            f"the database is at schema version {max(done)}; this core knows up to {LATEST}"
        )
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in statements(migration.sql, types):
            await db.execute(statement, {})
        await db.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :name, :now)",
            {"v": migration.version, "name": migration.name, "now": time.time()},
        )
        log.info("schema migration %d applied: %s", migration.version, migration.name)
        applied.append(migration.version)
    return applied
