-- The schema hypercode-core created before migrations (main at 6f6a0e5, app/store/schema.py),
-- captured for tests/app/store/test_migrations.py. Never edit: it stands for old databases.
CREATE TABLE IF NOT EXISTS tasks (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  payload TEXT NOT NULL,
  priority INTEGER NOT NULL,
  capabilities TEXT NOT NULL,
  timeout_s REAL NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  agent_id TEXT,
  lease_id TEXT,
  lease_expires_at REAL,
  result TEXT,
  output TEXT,
  output_truncated BOOLEAN NOT NULL DEFAULT FALSE,
  error TEXT,
  traceparent TEXT,
  idempotency_key TEXT,
  request_hash TEXT,
  submitted_by TEXT NOT NULL,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  started_at REAL,
  finished_at REAL
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
  created_at REAL NOT NULL,
  last_heartbeat_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS agents_active ON agents (status, created_at);
