"""Smoke checks of a running hypercode-core and its agents; prints a JSON report.

Runs inside the pipeline's Python container (stdlib + httpx) against BASE_URL with
CLIENT_KEY. It never decides anything: it reports {"checks": [{name, passed, detail}]}
on stdout, and the pipeline's rollback decision reads that report.

    BASE_URL=http://core:8000 CLIENT_KEY=... python smoke_checks.py

SMOKE_TASK_DEADLINE_S (default 60) bounds the wait for the test task.
"""

import json
import os
import time
from collections.abc import Callable

import httpx

FINAL_STATUSES = {"succeeded", "failed", "cancelled"}


class CheckFailed(Exception):
    """A smoke check saw something other than what a healthy deployment shows."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def check_health(client: httpx.Client) -> str:
    response = client.get("/healthz")
    require(response.status_code == 200, f"/healthz answered {response.status_code}")
    return "/healthz is 200"


def check_ready(client: httpx.Client) -> str:
    response = client.get("/readyz")
    require(response.status_code == 200, f"/readyz answered {response.status_code}")
    return "/readyz is 200: the database answers"


def check_auth_required(client: httpx.Client) -> str:
    response = client.get("/api/v1/agents", headers={"Authorization": ""})
    require(response.status_code == 401, f"no key gave {response.status_code}, not 401")
    return "a request without a key is refused with 401"


def check_task_runs(client: httpx.Client) -> str:
    """A submitted task must be leased by an agent, run and succeed: the whole loop works."""
    task = {"kind": "python", "payload": {"code": "print(6 * 7)"}, "timeout_s": 10}
    response = client.post("/api/v1/execution/execute", json=task)
    require(response.status_code == 202, f"submit answered {response.status_code}")
    task_id = response.json()["id"]
    wait_s = float(os.environ.get("SMOKE_TASK_DEADLINE_S", "60"))
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        current = client.get(f"/api/v1/execution/{task_id}").json()
        if current["status"] in FINAL_STATUSES:
            ended = f"task ended {current['status']}: {current.get('error')}"
            require(current["status"] == "succeeded", ended)
            require("42" in (current.get("output") or ""), f"output {current.get('output')!r}")
            return f"task {task_id} succeeded with output 42"
        time.sleep(0.5)
    raise CheckFailed(f"task {task_id} not finished after {wait_s:.0f} s")


CHECKS: list[Callable[[httpx.Client], str]] = [
    check_health,
    check_ready,
    check_auth_required,
    check_task_runs,
]


def run_check(check: Callable[[httpx.Client], str], client: httpx.Client) -> dict[str, object]:
    try:
        return {"name": check.__name__, "passed": True, "detail": check(client)}
    except (CheckFailed, httpx.HTTPError, KeyError, ValueError) as error:
        return {
            "name": check.__name__,
            "passed": False,
            "detail": f"{type(error).__name__}: {error}",
        }


def main() -> None:
    headers = {"Authorization": f"Bearer {os.environ['CLIENT_KEY']}"}
    with httpx.Client(base_url=os.environ["BASE_URL"], headers=headers, timeout=10) as client:
        report = {"checks": [run_check(check, client) for check in CHECKS]}
    print(json.dumps(report, indent=2))  # the report is this CLI's output


if __name__ == "__main__":
    main()
