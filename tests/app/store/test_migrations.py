"""A database made by the release before migrations keeps its tasks and is served by this one."""

import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.store.migrations import LATEST, MIGRATIONS
from harness.postgres import PostgresDatabases
from tests.conftest import Api, CoreFactory

HERE = Path(__file__).parent
OLD_MAIN = "6f6a0e5"


def old_schema(dialect: str) -> list[str]:
    sql = (HERE / f"schema-{OLD_MAIN}.{dialect}.sql").read_text()
    lines = [line for line in sql.splitlines() if not line.startswith("--")]
    return [s for s in "\n".join(lines).split(";") if s.strip()]


def old_task(status: str, **fields: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "id": str(uuid.uuid4()),
        "kind": "python",
        "status": status,
        "payload": json.dumps({"code": f"print('{status}')", "stdin": ""}),
        "priority": 0,
        "capabilities": json.dumps(["python"]),
        "timeout_s": 30.0,
        "max_attempts": 3,
        "submitted_by": "client",
        "created_at": now,
        "updated_at": now,
        **fields,
    }


OLD_TASKS = [
    old_task("queued"),
    old_task(
        "succeeded",
        output="done\n",
        output_truncated=True,
        result=json.dumps({"exit_code": 0}),
        attempts=1,
        finished_at=time.time(),
    ),
]


def create_old_database(database_url: str) -> None:
    """What the core at OLD_MAIN left behind: its tables, two tasks, no version table."""
    inserts = [
        (
            f"INSERT INTO tasks ({', '.join(t)}) VALUES ({', '.join(['%s'] * len(t))})",
            list(t.values()),
        )
        for t in OLD_TASKS
    ]
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            for statement in old_schema("sqlite"):
                conn.execute(statement)
            for sql, values in inserts:
                conn.execute(sql.replace("%s", "?"), values)
        return
    with psycopg.connect(database_url) as conn:
        for statement in old_schema("postgres"):
            conn.execute(statement)
        for sql, values in inserts:
            conn.execute(sql, values)


def schema_versions(database_url: str) -> list[int]:
    query = "SELECT version FROM schema_migrations ORDER BY version"
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return [row[0] for row in conn.execute(query)]
    with psycopg.connect(database_url) as conn:
        return [row[0] for row in conn.execute(query)]


def test_a_database_of_the_release_before_migrations_is_upgraded_and_served(
    start_core: CoreFactory, database_url: str
) -> None:
    create_old_database(database_url)
    api = Api(start_core(database_url))
    try:
        assert schema_versions(database_url) == [m.version for m in MIGRATIONS]
        queued, finished = (api.task(t["id"]) for t in OLD_TASKS)
        assert (queued["status"], queued["payload"]["code"]) == ("queued", "print('queued')")
        assert (finished["status"], finished["output"]) == ("succeeded", "done\n")
        assert finished["output_truncated"] is True and finished["output_escaped"] is False
        assert finished["result"] == {"exit_code": 0}

        listed = api.client.get("/api/v1/execution").json()["items"]
        assert [t["id"] for t in listed] == [t["id"] for t in reversed(OLD_TASKS)]
        agent = api.register_agent()
        lease = api.lease(agent)
        assert lease is not None and lease["task"]["id"] == OLD_TASKS[0]["id"]
        assert api.report(agent, lease).status_code == 200
        assert api.submit()["status"] == "queued"
    finally:
        api.close()


def test_migrations_run_once_and_in_order(start_core: CoreFactory, database_url: str) -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST + 1))
    core = start_core(database_url)
    core.restart()  # a second start finds nothing to do
    assert schema_versions(database_url) == list(range(1, LATEST + 1))


def test_a_core_refuses_a_database_migrated_by_a_newer_release(
    start_core: CoreFactory, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'newer.db'}"
    start_core(database_url).stop()
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, 'from the future', 0)", (LATEST + 1,)
        )
    with pytest.raises(RuntimeError, match="exited"):
        start_core(database_url)


@pytest.mark.postgres
def test_a_core_refuses_a_database_that_does_not_store_utf8(
    start_core: CoreFactory, postgres: PostgresDatabases, tmp_path: Path
) -> None:
    # An initdb without -E UTF8 in a C locale makes SQL_ASCII databases; psycopg then hands
    # back bytes for text, and every key and body hash compared to a str silently differs.
    name = f"hc_ascii_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' TEMPLATE template0")
    with pytest.raises(RuntimeError, match="exited"):
        start_core(postgres.url(name))
    logs = "".join(log.read_text() for log in tmp_path.glob("core*/core-*.log"))
    assert "encoding is SQL_ASCII; hypercode-core needs UTF8" in logs
