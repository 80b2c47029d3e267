import uuid

import pytest

from tests.conftest import Api

EXECUTE = "/api/v1/execution/execute"
TASK = {"kind": "python", "payload": {"code": "print(1)"}}


def test_missing_or_unknown_key_is_401(api: Api) -> None:
    missing = api.anonymous.post(EXECUTE, json=TASK)
    assert missing.status_code == 401
    assert "Authorization" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    unknown = api.as_key("not-a-real-key-at-all").get("/api/v1/agents")
    assert unknown.status_code == 401
    basic = api.anonymous.get("/api/v1/agents", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        ("registrar", "POST", EXECUTE, TASK),
        ("admin", "POST", EXECUTE, TASK),
        ("registrar", "GET", f"/api/v1/execution/{uuid.uuid4()}", None),
        ("client", "POST", "/api/v1/agents", {"name": "x", "capabilities": ["python"]}),
        ("client", "DELETE", f"/api/v1/agents/{uuid.uuid4()}", None),
        ("client", "POST", f"/api/v1/execution/{uuid.uuid4()}/cancel", None),
        ("client", "POST", f"/api/v1/agents/{uuid.uuid4()}/lease", None),
        ("admin", "POST", f"/api/v1/execution/{uuid.uuid4()}/result", None),
    ],
)
def test_wrong_role_is_403(api: Api, role: str, method: str, path: str, body: object) -> None:
    http = {"client": api.client, "admin": api.admin, "registrar": api.registrar}[role]
    response = http.request(method, path, json=body)
    assert response.status_code == 403, response.text
    assert response.json()["detail"]


def test_agent_token_acts_only_for_its_own_agent(api: Api) -> None:
    mine, theirs = api.register_agent("mine"), api.register_agent("theirs")
    assert mine.http.post(f"/api/v1/agents/{theirs.id}/heartbeat").status_code == 403
    assert (
        mine.http.post(f"/api/v1/agents/{theirs.id}/lease", json={"wait_s": 0}).status_code == 403
    )
    assert mine.http.post(EXECUTE, json=TASK).status_code == 403


def test_an_agent_cannot_report_on_another_agents_lease(api: Api) -> None:
    api.submit()
    holder, thief = api.register_agent("holder"), api.register_agent("thief")
    lease = api.lease(holder)
    assert lease is not None
    assert api.report(thief, lease).status_code == 409
    assert api.report(holder, lease).status_code == 200


def test_health_needs_no_key(api: Api) -> None:
    assert api.anonymous.get("/healthz").json() == {"status": "ok"}
    assert api.anonymous.get("/readyz").json()["status"] == "ready"
