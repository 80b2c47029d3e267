"""Table definitions; the two dialects differ only in column types."""

_TEMPLATE = """
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
"""

SQLITE_DDL = _TEMPLATE.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT", real="REAL")
POSTGRES_DDL = _TEMPLATE.format(
    serial="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", real="DOUBLE PRECISION"
)
