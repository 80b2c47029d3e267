import base64
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.core import CoreProcess
from tests.conftest import Api, RegisteredAgent

EXECUTE = "/api/v1/execution/execute"


def test_submit_lease_report_status(api: Api) -> None:
    task = api.submit("print(6 * 7)")
    assert task["status"] == "queued"
    agent = api.register_agent()

    lease = api.lease(agent)
    assert lease is not None
    assert lease["task"]["id"] == task["id"]
    assert lease["task"]["status"] == "leased"
    assert lease["task"]["attempts"] == 1

    started = agent.http.post(
        f"/api/v1/execution/{task['id']}/start", json={"lease_id": lease["lease_id"]}
    )
    assert started.json()["status"] == "running"
    done = agent.http.post(
        f"/api/v1/execution/{task['id']}/result",
        json={"lease_id": lease["lease_id"], "status": "succeeded", "output": "42\n"},
    )
    assert done.status_code == 200, done.text

    status = api.task(task["id"])
    assert status["status"] == "succeeded"
    assert status["output"] == "42\n"
    assert status["agent_id"] == agent.id
    assert status["finished_at"] is not None


def test_a_lease_asked_to_start_comes_running_and_reports_like_any(db_api: Api) -> None:
    task = db_api.submit("print(6 * 7)")
    agent = db_api.register_agent()

    response = agent.http.post(
        f"/api/v1/agents/{agent.id}/lease", json={"wait_s": 2, "start": True}
    )
    assert response.status_code == 200, response.text
    lease = response.json()
    assert lease["task"]["id"] == task["id"]
    assert lease["task"]["status"] == "running"
    assert lease["task"]["started_at"] is not None
    assert db_api.task(task["id"])["status"] == "running"
    assert db_api.report(agent, lease).status_code == 200
    assert db_api.task(task["id"])["status"] == "succeeded"


def lease_reporting(agent: RegisteredAgent, lease: dict[str, Any], status: str) -> httpx.Response:
    """A lease request that carries the result of the agent's last task."""
    report = {
        "task_id": lease["task"]["id"],
        "result": {"lease_id": lease["lease_id"], "status": status, "output": "done"},
    }
    return agent.http.post(
        f"/api/v1/agents/{agent.id}/lease", json={"wait_s": 0, "start": True, "report": report}
    )


def test_a_report_sent_with_the_next_lease_is_stored_before_the_next_task_comes(
    db_api: Api,
) -> None:
    first, second = db_api.submit(), db_api.submit()
    agent = db_api.register_agent()
    lease = db_api.lease(agent)
    assert lease is not None and lease["task"]["id"] == first["id"]

    response = lease_reporting(agent, lease, "succeeded")
    assert response.status_code == 200, response.text
    assert response.json()["task"]["id"] == second["id"]
    assert response.json()["task"]["status"] == "running"
    done = db_api.task(first["id"])
    assert (done["status"], done["output"]) == ("succeeded", "done")

    # Nothing left to lease: the report is stored all the same.
    assert lease_reporting(agent, response.json(), "failed").status_code == 204
    assert db_api.task(second["id"])["status"] == "failed"


def test_a_refused_report_with_a_lease_request_leases_nothing(db_api: Api) -> None:
    db_api.submit()
    agent = db_api.register_agent()
    lease = db_api.lease(agent)
    assert lease is not None
    assert db_api.report(agent, lease).status_code == 200
    waiting = db_api.submit()

    again = lease_reporting(agent, lease, "failed")
    assert again.status_code == 409
    assert "stale lease" in again.json()["detail"]
    assert db_api.task(lease["task"]["id"])["status"] == "succeeded"
    assert db_api.task(waiting["id"])["status"] == "queued"


def test_second_report_of_a_finished_task_is_refused(api: Api) -> None:
    api.submit()
    agent = api.register_agent()
    lease = api.lease(agent)
    assert lease is not None
    assert api.report(agent, lease).status_code == 200

    again = api.report(agent, lease, status="failed")
    assert again.status_code == 409
    assert "stale lease" in again.json()["detail"]
    assert api.task(lease["task"]["id"])["status"] == "succeeded"


def test_idempotency_key_returns_the_same_task(db_api: Api) -> None:
    body = {"kind": "python", "payload": {"code": "print(1)"}}
    headers = {"Idempotency-Key": "order-17"}
    first = db_api.client.post(EXECUTE, json=body, headers=headers)
    retry = db_api.client.post(EXECUTE, json=body, headers=headers)
    assert first.status_code == 202
    assert retry.status_code == 200
    assert retry.json()["id"] == first.json()["id"]

    other_body = {"kind": "python", "payload": {"code": "print(2)"}}
    clash = db_api.client.post(EXECUTE, json=other_body, headers=headers)
    assert clash.status_code == 422
    assert "Idempotency-Key" in clash.json()["detail"]
    listed = db_api.client.get("/api/v1/execution").json()["items"]
    assert [t["id"] for t in listed] == [first.json()["id"]]


def test_concurrent_retries_with_one_key_make_one_task(api: Api) -> None:
    body = {"kind": "python", "payload": {"code": "print(1)"}}
    ids: list[str] = []

    def submit() -> None:
        response = api.client.post(EXECUTE, json=body, headers={"Idempotency-Key": "k"})
        ids.append(response.json()["id"])

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 8
    assert len(set(ids)) == 1


def test_long_poll_wakes_when_a_task_arrives(api: Api) -> None:
    agent = api.register_agent()
    leases: list[dict[str, object] | None] = []
    poller = threading.Thread(target=lambda: leases.append(api.lease(agent, wait_s=20)))
    poller.start()
    time.sleep(0.5)
    task = api.submit()
    poller.join(timeout=20)
    assert leases and leases[0] is not None
    assert leases[0]["task"]["id"] == task["id"]  # type: ignore[index]


def test_empty_queue_answers_204_after_the_wait(api: Api) -> None:
    agent = api.register_agent()
    assert api.lease(agent, wait_s=0.2) is None


def test_higher_priority_is_leased_first(api: Api) -> None:
    api.submit(priority=0)
    urgent = api.submit(priority=50)
    agent = api.register_agent()
    lease = api.lease(agent)
    assert lease is not None
    assert lease["task"]["id"] == urgent["id"]


def test_agent_only_gets_tasks_it_is_capable_of(api: Api) -> None:
    linter = api.register_agent("linter", ("lint",))
    api.submit()  # needs "python"
    assert api.lease(linter, wait_s=0.2) is None
    lint = api.client.post(
        EXECUTE, json={"kind": "lint", "payload": {"files": {"a.py": "import os\n"}}}
    )
    lease = api.lease(linter)
    assert lease is not None
    assert lease["task"]["id"] == lint.json()["id"]


def test_cancel_refuses_the_agents_later_report(api: Api) -> None:
    api.submit()
    agent = api.register_agent()
    lease = api.lease(agent)
    assert lease is not None
    cancelled = api.admin.post(f"/api/v1/execution/{lease['task']['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert api.report(agent, lease).status_code == 409
    again = api.admin.post(f"/api/v1/execution/{lease['task']['id']}/cancel")
    assert again.status_code == 409


def test_list_pages_through_every_task_once(api: Api) -> None:
    submitted = {api.submit()["id"] for _ in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.client.get("/api/v1/execution", params=params).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(submitted)
    assert len(seen) == len(submitted)

    queued = api.client.get("/api/v1/execution", params={"status": "succeeded"}).json()
    assert queued["items"] == []


def test_output_is_cut_to_the_bound_and_marked(api: Api) -> None:
    api.submit()
    agent = api.register_agent()
    lease = api.lease(agent)
    assert lease is not None
    huge = "x" * 200_000
    agent.http.post(
        f"/api/v1/execution/{lease['task']['id']}/result",
        json={"lease_id": lease["lease_id"], "status": "succeeded", "output": huge},
    )
    task = api.task(lease["task"]["id"])
    assert task["output_truncated"] is True
    assert len(task["output"]) == 65_536


def submit_traced(api: Api, trace_id: str) -> dict[str, Any]:
    response = api.client.post(
        EXECUTE,
        json={"kind": "python", "payload": {"code": "print(1)"}},
        headers={"traceparent": f"00-{trace_id}-{'1' * 16}-01"},
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def test_trace_id_comes_from_the_callers_traceparent(api: Api) -> None:
    trace_id = uuid.uuid4().hex
    assert submit_traced(api, trace_id)["trace_id"] == trace_id


def test_the_configured_propagators_read_the_callers_context(tmp_path: Path) -> None:
    # Only baggage: a W3C traceparent header is not one of the configured formats.
    with CoreProcess(tmp_path / "core", env={"OTEL_PROPAGATORS": "baggage"}) as core:
        api = Api(core)
        try:
            assert submit_traced(api, uuid.uuid4().hex)["trace_id"] is None
        finally:
            api.close()


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"kind": "rust", "payload": {}}, "python"),
        ({"kind": "python"}, "payload"),
        ({"kind": "python", "payload": {"code": ""}}, "at least 1 character"),
        ({"kind": "lint", "payload": {"files": {"../etc/passwd": "x"}}}, "safe relative path"),
        ({"kind": "lint", "payload": {"files": {"/abs.py": "x"}}}, "relative"),
        ({"kind": "python", "payload": {"code": "1"}, "timeout_s": 9999}, "less than or equal"),
        ({"kind": "python", "payload": {"code": "1"}, "capabilities": ["No Spaces"]}, "pattern"),
        ({"kind": "python", "payload": {"code": "1"}, "surprise": True}, "surprise"),
    ],
)
def test_invalid_task_body_says_what_is_wrong(api: Api, body: object, complaint: str) -> None:
    response = api.client.post(EXECUTE, json=body)
    assert response.status_code == 422
    assert complaint in response.text


def test_malformed_json_is_422(api: Api) -> None:
    response = api.client.post(
        EXECUTE, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON" in response.text


def test_oversized_body_is_413(api: Api) -> None:
    code = "#" * 2_000_000
    response = api.client.post(EXECUTE, json={"kind": "python", "payload": {"code": code}})
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["detail"]


def test_bad_cursor_and_idempotency_key_are_client_errors(api: Api) -> None:
    bogus = base64.urlsafe_b64encode(b"not-a-number").decode()
    assert api.client.get("/api/v1/execution", params={"cursor": bogus}).status_code == 400
    too_long = api.client.post(
        EXECUTE,
        json={"kind": "python", "payload": {"code": "1"}},
        headers={"Idempotency-Key": "k" * 201},
    )
    assert too_long.status_code == 422
    assert "Idempotency-Key" in too_long.text or "idempotency-key" in too_long.text


def test_stats_count_tasks_per_status(api: Api) -> None:
    for _ in range(3):
        api.submit()
    agent = api.register_agent()
    lease = api.lease(agent)
    assert lease is not None
    api.report(agent, lease)
    counts = api.client.get("/api/v1/execution/stats").json()["counts"]
    assert counts["queued"] == 2
    assert counts["succeeded"] == 1
    assert counts["failed"] == 0
