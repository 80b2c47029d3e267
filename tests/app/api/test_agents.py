import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
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


def test_a_long_poll_outliving_its_agent_takes_no_task(db_api: Api) -> None:
    """An agent removed while its lease request waits: work queued after that stays queued."""
    doomed = db_api.register_agent("doomed")
    with ThreadPoolExecutor(1) as pool:
        polling = pool.submit(db_api.lease, doomed, 3)
        time.sleep(0.5)  # the poll is waiting for work
        assert db_api.admin.delete(f"/api/v1/agents/{doomed.id}").status_code == 204
        task = db_api.submit()  # wakes the poll
        assert polling.result() is None

    left = db_api.task(task["id"])
    assert (left["status"], left["attempts"], left["agent_id"]) == ("queued", 0, None)


def test_a_caller_that_hangs_up_mid_poll_takes_no_task(api: Api) -> None:
    """The agent is still registered, but nobody reads the answer: the task is not leased."""
    agent = api.register_agent()
    with pytest.raises(httpx.ReadTimeout):  # httpx closes the connection
        agent.http.post(f"/api/v1/agents/{agent.id}/lease", json={"wait_s": 10}, timeout=0.5)
    time.sleep(1)  # the core notices at its next poll (0.5 s)
    task = api.submit()

    time.sleep(1)
    assert api.task(task["id"])["status"] == "queued"
    lease = api.lease(agent, wait_s=0)
    assert lease is not None
    assert (lease["task"]["id"], lease["task"]["attempts"]) == (task["id"], 1)


def test_a_stopping_core_answers_the_lease_polls_waiting_on_it(start_core: CoreFactory) -> None:
    """SIGTERM: a poll waiting for 30 s answers 204 at once, so the core stops in its grace."""
    core = start_core()
    api = Api(core)
    agent = api.register_agent()
    with ThreadPoolExecutor(1) as pool:
        polling = pool.submit(api.lease, agent, 30)
        time.sleep(0.5)  # the poll is waiting for work
        # uvicorn ends by raising the SIGTERM it caught again; -9: still waiting after 5 s.
        assert core.stop(timeout=5) == -signal.SIGTERM
        assert polling.result() is None  # a 204, not a dropped connection
    api.close()


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


def test_named_leases_are_extended_past_their_ttl(
    start_core: CoreFactory, database_url: str
) -> None:
    api = Api(start_core(database_url, lease_ttl_s=1, reaper_interval_s=0.2))
    task = api.submit()
    agent = api.register_agent()
    lease = api.lease(agent)
    assert lease is not None
    for _ in range(8):  # 2.4 s, well past the 1 s lease
        ack = api.heartbeat(agent, lease["lease_id"])
        assert (ack["extended"], ack["not_held"]) == ([lease["lease_id"]], [])
        time.sleep(0.3)
    assert api.task(task["id"])["status"] == "leased"
    assert api.report(agent, lease).status_code == 200
    # Finished, the lease is gone: the agent is told so.
    ack = api.heartbeat(agent, lease["lease_id"])
    assert (ack["extended"], ack["not_held"]) == ([], [lease["lease_id"]])
    api.close()


def test_a_lease_whose_answer_never_reached_the_agent_expires_while_it_heartbeats(
    start_core: CoreFactory, database_url: str
) -> None:
    """The lease is written but its answer is lost: the agent's heartbeats must not keep it."""
    api = Api(start_core(database_url, lease_ttl_s=1, reaper_interval_s=0.2))
    task = api.submit()
    unaware = api.register_agent("unaware")
    lost = api.lease(unaware)  # the agent never sees this answer: it names no lease
    assert lost is not None

    def requeued_while_heartbeating() -> bool:
        ack = api.heartbeat(unaware)
        assert (ack["extended"], ack["not_held"]) == ([], [])
        return api.task(task["id"])["status"] == "queued"

    _wait_for(requeued_while_heartbeating, seconds=10)
    assert unaware.id in [a["id"] for a in api.client.get("/api/v1/agents").json()]
    other = api.register_agent("other")
    again = api.lease(other)
    assert again is not None
    assert (again["task"]["id"], again["task"]["attempts"]) == (task["id"], 2)
    assert api.report(unaware, lost).status_code == 409
    assert api.report(other, again).status_code == 200
    assert api.task(task["id"])["agent_id"] == other.id
    api.close()


def test_a_heartbeat_naming_another_agents_lease_does_not_extend_it(
    start_core: CoreFactory, database_url: str
) -> None:
    api = Api(start_core(database_url, lease_ttl_s=1, reaper_interval_s=0.2))
    task = api.submit()
    holder, other = api.register_agent("holder"), api.register_agent("other")
    lease = api.lease(holder)
    assert lease is not None

    def requeued_while_other_names_it() -> bool:
        ack = api.heartbeat(other, lease["lease_id"])
        assert (ack["extended"], ack["not_held"]) == ([], [lease["lease_id"]])
        return api.task(task["id"])["status"] == "queued"

    _wait_for(requeued_while_other_names_it, seconds=10)
    assert api.report(holder, lease).status_code == 409
    api.close()


def test_a_heartbeat_answers_for_each_named_lease(api: Api) -> None:
    tasks = [api.submit() for _ in range(2)]
    agent = api.register_agent()
    leases = [api.lease(agent) for _ in tasks]
    held = [lease["lease_id"] for lease in leases if lease is not None]
    assert len(held) == 2
    unknown = uuid.uuid4().hex
    ack = api.heartbeat(agent, held[1], unknown, held[0])
    assert ack["extended"] == [held[1], held[0]]
    assert ack["not_held"] == [unknown]
    assert ack["lease_ttl_s"] == pytest.approx(15)


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (None, "body: Field required"),
        ({}, "body.lease_ids: Field required"),
        ({"lease_ids": "a" * 32}, "body.lease_ids: Input should be a valid list"),
        ({"lease_ids": ["a" * 32] * 2}, "lease_ids[1] repeats lease_ids[0]"),
        ({"lease_ids": [uuid.uuid4().hex for _ in range(65)]}, "at most 64 items"),
        ({"lease_ids": ["A" * 32]}, "body.lease_ids.0: String should match pattern"),
        ({"lease_ids": ["a" * 31]}, "body.lease_ids.0: String should match pattern"),
        ({"lease_ids": [str(uuid.uuid4())]}, "body.lease_ids.0: String should match pattern"),
        ({"lease_ids": [42]}, "body.lease_ids.0: Input should be a valid string"),
        ({"lease_ids": [], "extended": 1}, "body.extended: Extra inputs are not permitted"),
    ],
)
def test_a_malformed_heartbeat_is_a_422_that_says_why(
    api: Api, body: object, complaint: str
) -> None:
    agent = api.register_agent()
    response = agent.http.post(f"/api/v1/agents/{agent.id}/heartbeat", json=body)
    assert response.status_code == 422, response.text
    assert complaint in response.json()["detail"]


def test_a_malformed_lease_id_in_a_report_is_a_422(api: Api) -> None:
    api.submit()
    agent = api.register_agent()
    lease = api.lease(agent)
    assert lease is not None
    garbled = lease | {"lease_id": lease["lease_id"].upper()}
    response = api.report(agent, garbled)
    assert response.status_code == 422, response.text
    assert "lease_id: String should match pattern" in response.json()["detail"]
    assert api.report(agent, lease).status_code == 200


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
