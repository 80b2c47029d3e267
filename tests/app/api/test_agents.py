import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.postgres import PostgresDatabases
from tests.conftest import Api, CoreFactory


def test_lease_is_exclusive(db_api: Api) -> None:
    """Two agents leasing at once never get the same task."""
    submitted = {db_api.submit()["id"] for _ in range(30)}
    agents = [db_api.register_agent(f"a{i}") for i in range(2)]
    won: dict[str, list[str]] = {a.id: [] for a in agents}

    def drain(index: int) -> None:
        agent = agents[index]
        while (lease := db_api.lease(agent, wait_s=0)) is not None:
            won[agent.id].append(lease["task"]["id"])

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(drain, range(2)))
    every = won[agents[0].id] + won[agents[1].id]
    assert sorted(every) == sorted(submitted)
    assert not set(won[agents[0].id]) & set(won[agents[1].id])


def test_kill_agent_requeues_its_tasks_at_once(db_api: Api) -> None:
    task = db_api.submit()
    doomed = db_api.register_agent("doomed")
    lease = db_api.lease(doomed)
    assert lease is not None

    assert db_api.admin.delete(f"/api/v1/agents/{doomed.id}").status_code == 204
    requeued = db_api.task(task["id"])
    assert requeued["status"] == "queued"
    assert requeued["agent_id"] is None

    late = db_api.report(doomed, lease)
    assert late.status_code == 401  # the killed agent's token is revoked
    survivor = db_api.register_agent("survivor")
    again = db_api.lease(survivor)
    assert again is not None
    assert again["task"]["id"] == task["id"]
    assert again["task"]["attempts"] == 2
    assert db_api.report(survivor, again).status_code == 200
    assert db_api.admin.delete(f"/api/v1/agents/{doomed.id}").status_code == 404


def test_agent_may_deregister_itself_but_not_others(api: Api) -> None:
    me, other = api.register_agent("me"), api.register_agent("other")
    assert me.http.delete(f"/api/v1/agents/{other.id}").status_code == 403
    assert me.http.delete(f"/api/v1/agents/{me.id}").status_code == 204
    listed = [a["id"] for a in api.client.get("/api/v1/agents").json()]
    assert listed == [other.id]


def test_expired_lease_is_requeued_and_old_holder_fenced(
    start_core: CoreFactory, database_url: str
) -> None:
    api = Api(start_core(database_url, lease_ttl_s=1, reaper_interval_s=0.2))
    task = api.submit()
    silent = api.register_agent("silent")
    stale = api.lease(silent)
    assert stale is not None

    _wait_for(lambda: api.task(task["id"])["status"] == "queued", seconds=10)
    fresh_agent = api.register_agent("fresh")
    fresh = api.lease(fresh_agent)
    assert fresh is not None
    assert fresh["task"]["id"] == task["id"]
    assert api.report(silent, stale).status_code == 409
    assert api.report(fresh_agent, fresh).status_code == 200
    done = api.task(task["id"])
    assert done["status"] == "succeeded"
    assert done["agent_id"] == fresh_agent.id
    api.close()


def test_heartbeats_keep_a_lease_alive(start_core: CoreFactory) -> None:
    api = Api(start_core(lease_ttl_s=1, reaper_interval_s=0.2))
    task = api.submit()
    agent = api.register_agent()
    lease = api.lease(agent)
    assert lease is not None
    for _ in range(8):  # 2.4 s, well past the 1 s lease
        beat = agent.http.post(f"/api/v1/agents/{agent.id}/heartbeat")
        assert beat.json()["leases_extended"] == 1
        time.sleep(0.3)
    assert api.task(task["id"])["status"] == "leased"
    assert api.report(agent, lease).status_code == 200
    api.close()


def test_task_fails_with_reason_after_max_attempts(start_core: CoreFactory) -> None:
    api = Api(start_core(lease_ttl_s=1, reaper_interval_s=0.2))
    task = api.submit(max_attempts=1)
    agent = api.register_agent()
    assert api.lease(agent) is not None
    _wait_for(lambda: api.task(task["id"])["status"] == "failed", seconds=10)
    failed = api.task(task["id"])
    assert failed["error"] == "lease expired after 1 attempts"
    assert failed["attempts"] == 1
    api.close()


@pytest.mark.postgres
def test_replicas_on_one_postgres_never_share_a_task(
    start_core: CoreFactory, postgres: PostgresDatabases
) -> None:
    url = postgres.create_database()
    first, second = Api(start_core(url)), Api(start_core(url))
    submitted = {first.submit()["id"] for _ in range(20)} | {
        second.submit()["id"] for _ in range(20)
    }
    agents = [(first, first.register_agent("a")), (second, second.register_agent("b"))]
    won: list[list[str]] = [[], []]

    def drain(index: int) -> None:
        api, agent = agents[index]
        while (lease := api.lease(agent, wait_s=0)) is not None:
            won[index].append(lease["task"]["id"])

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won[0] + won[1]) == sorted(submitted)
    assert not set(won[0]) & set(won[1])
    first.close()
    second.close()


def _wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
