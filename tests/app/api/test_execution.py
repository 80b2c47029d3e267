import uuid

from tests.conftest import Api


def test_submit_lease_report_status(api: Api) -> None:
    task = api.submit("print(6 * 7)")
    assert task["status"] == "queued"
    agent = api.register_agent()

    leased = agent.http.post(f"/api/v1/agents/{agent.id}/lease", json={"wait_s": 2})
    assert leased.status_code == 200, leased.text
    lease = leased.json()
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

    status = api.client.get(f"/api/v1/execution/{task['id']}").json()
    assert status["status"] == "succeeded"
    assert status["output"] == "42\n"
    assert status["agent_id"] == agent.id
    assert status["finished_at"] is not None


def test_unknown_task_is_404_and_bad_id_is_422(api: Api) -> None:
    assert api.client.get(f"/api/v1/execution/{uuid.uuid4()}").status_code == 404
    bad = api.client.get("/api/v1/execution/not-a-uuid")
    assert bad.status_code == 422
    assert "uuid" in bad.text.lower()
