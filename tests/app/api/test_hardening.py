"""Whatever a caller sends or a task prints, the core answers 2xx or a clear 4xx, stores what
it accepted, and can read every row back (issue 13, items 2, 3, 4, 7, 8)."""

import base64
import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from contract.tasks import MAX_JSON_DEPTH
from tests.conftest import Api, CoreFactory

EXECUTE = "/api/v1/execution/execute"
TASKS = "/api/v1/execution"


def leased(api: Api) -> tuple[Any, dict[str, Any]]:
    api.submit()
    agent = api.register_agent()
    lease = api.lease(agent)
    assert lease is not None
    return agent, lease


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth - 1):
        value = {"deeper": value}
    return value


def test_a_nul_in_output_is_stored_escaped_and_said_so(db_api: Api) -> None:
    agent, lease = leased(db_api)
    report = {
        "lease_id": lease["lease_id"],
        "status": "failed",
        "output": "a\x00b",
        "error": "exit 1: \x00",
        "result": {"stdout": "\x00"},
    }
    answer = agent.http.post(f"{TASKS}/{lease['task']['id']}/result", json=report)
    assert answer.status_code == 200, answer.text
    task = db_api.task(lease["task"]["id"])
    assert (task["output"], task["error"]) == ("a\ufffdb", "exit 1: \ufffd")
    assert task["output_escaped"] is True
    assert task["result"] == {"stdout": "\x00"}  # JSON keeps it as \u0000


def test_a_result_nested_too_deep_is_refused_and_reads_keep_working(db_api: Api) -> None:
    agent, lease = leased(db_api)
    url = f"{TASKS}/{lease['task']['id']}/result"
    deep = {"lease_id": lease["lease_id"], "status": "succeeded", "result": nested(600)}
    refused = agent.http.post(url, json=deep)
    assert refused.status_code == 422
    assert f"deeper than {MAX_JSON_DEPTH} levels" in refused.json()["detail"]
    fits = nested(MAX_JSON_DEPTH - 2)
    deep["result"] = fits
    assert agent.http.post(url, json=deep).status_code == 200
    assert db_api.task(lease["task"]["id"])["result"] == fits
    assert db_api.client.get(TASKS).status_code == 200


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b'{"kind": "python", "payload": {"code": "1"}, "timeout_s": NaN}', "finite"),
        (b'{"kind": "python", "payload": {"code": "1"}, "priority": -Infinity}', "finite"),
        (b'{"kind": "python", "payload": {"code": "1"}, "timeout_s": 1e999}', "finite"),
        (b'{"kind": "python", "payload": {"code": "\\ud800"}}', "surrogate"),
        (b'{"kind": "python", "payload": {"code": "\xff"}}', "not UTF-8"),
        (b'{"kind": "lint", "payload": {"files": {"\\udfff.py": "x"}}}', "surrogate"),
    ],
)
def test_input_no_store_can_hold_is_a_clear_422(db_api: Api, body: bytes, complaint: str) -> None:
    response = db_api.client.post(
        EXECUTE, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert complaint in response.json()["detail"]


@pytest.mark.parametrize(
    ("result", "complaint"),
    [
        (b'{"score": NaN}', "finite"),
        (b'{"score": 1e999}', "finite"),
        (b'{"s": "\\udc00"}', "surrogate"),
    ],
)
def test_an_agent_report_no_store_can_hold_is_a_422_and_the_lease_still_holds(
    db_api: Api, result: bytes, complaint: str
) -> None:
    # A careless agent must not end its task or the core: the report is refused, and the
    # same lease can still report a result the store can hold.
    agent, lease = leased(db_api)
    url = f"{TASKS}/{lease['task']['id']}/result"
    head = f'{{"lease_id": "{lease["lease_id"]}", "status": "succeeded", "result": '.encode()
    refused = agent.http.post(
        url, content=head + result + b"}", headers={"content-type": "application/json"}
    )
    assert refused.status_code == 422, refused.text
    assert complaint in refused.json()["detail"]
    accepted = agent.http.post(url, json={"lease_id": lease["lease_id"], "status": "succeeded"})
    assert accepted.status_code == 200, accepted.text
    assert db_api.task(lease["task"]["id"])["status"] == "succeeded"


@pytest.mark.parametrize("seq", [2**63, 10**30, -1])
def test_an_out_of_range_cursor_is_400(db_api: Api, seq: int) -> None:
    cursor = base64.urlsafe_b64encode(str(seq).encode()).decode()
    response = db_api.client.get(TASKS, params={"cursor": cursor})
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


def test_an_over_limit_chunked_body_is_413(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"kind": "python", "payload": {"code": "'
        for _ in range(40):
            yield b"#" * 65536
        yield b'"}}'

    response = api.client.post(
        EXECUTE, content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["detail"]


def test_headers_with_bytes_outside_ascii_are_refused_or_ignored_never_a_500(api: Api) -> None:
    task = {"kind": "python", "payload": {"code": "print(1)"}}
    # A key no client could have meant: 422, and nothing stored under it.
    refused = api.client.post(EXECUTE, json=task, headers={"Idempotency-Key": b"\xff\xfe"})
    assert refused.status_code == 422, refused.text
    assert "idempotency-key" in refused.text.lower()
    # A trace context that is not one is ignored: the task is queued without a trace.
    untraced = api.client.post(EXECUTE, json=task, headers={"traceparent": b"00-\xff-zz"})
    assert untraced.status_code == 202, untraced.text
    assert untraced.json()["trace_id"] is None
    # A key that is not one is unknown, not a crash.
    anonymous = api.anonymous.get(TASKS, headers={"Authorization": b"Bearer \xff\xfe"})
    assert anonymous.status_code == 401
    assert api.client.get(f"{TASKS}/stats").json()["counts"]["queued"] == 1


def test_every_error_has_one_shape(api: Api) -> None:
    answers = [
        api.anonymous.get(TASKS),  # 401
        api.registrar.get(TASKS),  # 403
        api.client.get(f"{TASKS}/00000000-0000-0000-0000-000000000000"),  # 404
        api.client.post(EXECUTE, json={"kind": "rust"}),  # 422
        api.client.get(TASKS, params={"cursor": "!!"}),  # 400
    ]
    assert [a.status_code for a in answers] == [401, 403, 404, 422, 400]
    for answer in answers:
        body = answer.json()
        assert isinstance(body["detail"], str) and isinstance(body.get("errors", []), list)
    assert answers[3].json()["errors"][0]["loc"][0] == "body"


def test_an_admin_deletes_a_task_and_a_client_cannot(api: Api) -> None:
    task = api.submit()
    assert api.client.delete(f"{TASKS}/{task['id']}").status_code == 403
    assert api.admin.delete(f"{TASKS}/{task['id']}").status_code == 204
    assert api.client.get(f"{TASKS}/{task['id']}").status_code == 404
    assert api.admin.delete(f"{TASKS}/{task['id']}").status_code == 404


@pytest.fixture
def two_clients(start_core: CoreFactory) -> Iterator[tuple[Api, httpx.Client, httpx.Client]]:
    api = Api(start_core(clients=("alice", "bob")))
    yield api, api.as_key(api.core.client_keys["alice"]), api.as_key(api.core.client_keys["bob"])
    api.close()


def test_a_client_reads_only_its_own_tasks(
    two_clients: tuple[Api, httpx.Client, httpx.Client],
) -> None:
    api, alice, bob = two_clients
    body = {"kind": "python", "payload": {"code": "print(1)"}}
    mine = alice.post(EXECUTE, json=body).json()["id"]
    theirs = bob.post(EXECUTE, json=body).json()["id"]

    assert alice.get(f"{TASKS}/{mine}").status_code == 200
    assert alice.get(f"{TASKS}/{theirs}").status_code == 404
    assert [t["id"] for t in alice.get(TASKS).json()["items"]] == [mine]
    assert [t["id"] for t in bob.get(TASKS).json()["items"]] == [theirs]
    assert alice.get(f"{TASKS}/stats").json()["counts"]["queued"] == 1
    assert {t["id"] for t in api.admin.get(TASKS).json()["items"]} == {mine, theirs}
    assert api.admin.get(f"{TASKS}/{theirs}").status_code == 200


def test_an_agent_that_stops_heartbeating_is_no_longer_listed(start_core: CoreFactory) -> None:
    api = Api(start_core(lease_ttl_s=1, reaper_interval_s=0.2))
    try:
        silent, alive = api.register_agent("silent"), api.register_agent("alive")
        listed = api.client.get("/api/v1/agents").json()
        assert {a["name"] for a in listed} == {"silent", "alive"}
        assert all(a["last_heartbeat_at"] for a in listed)
        for _ in range(4):
            time.sleep(0.5)
            api.heartbeat(alive)
        listed = api.client.get("/api/v1/agents").json()
        assert [a["id"] for a in listed] == [alive.id]
        assert silent.id not in json.dumps(listed)
    finally:
        api.close()


def test_a_row_stored_before_the_checks_is_still_readable(start_core: CoreFactory) -> None:
    api = Api(start_core())
    try:
        task = api.submit()
        database = api.core.database_url.removeprefix("sqlite:///")
        # What an older core let in: a result nested far deeper than bodies may be now.
        with sqlite3.connect(database) as conn:
            conn.execute(
                "UPDATE tasks SET status = 'succeeded', result = ? WHERE id = ?",
                (json.dumps(nested(600)), task["id"]),
            )
        shown = api.task(task["id"])
        assert f"deeper than {MAX_JSON_DEPTH} levels" in shown["result"]["unreadable"]
        assert api.client.get(TASKS).status_code == 200
    finally:
        api.close()
