"""Backpressure: with a cap on queued tasks, a submit over it is refused with 429 and a
Retry-After, never an answer owed to a task already accepted (issue 16)."""

import threading
from collections.abc import Iterator

import httpx
import pytest
from pydantic import ValidationError

from app.core.config import Settings
from tests.conftest import Api, CoreFactory

EXECUTE = "/api/v1/execution/execute"
STATS = "/api/v1/execution/stats"
TASK = {"kind": "python", "payload": {"code": "print(1)"}}


def submit(http: httpx.Client, idempotency_key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return http.post(EXECUTE, json=TASK, headers=headers)


def queued(api: Api) -> int:
    count: int = api.admin.get(STATS).json()["counts"]["queued"]
    return count


@pytest.fixture
def capped(start_core: CoreFactory, database_url: str) -> Iterator[Api]:
    """Two queued tasks at most, and alice and bob at most one each."""
    core = start_core(
        database_url,
        clients=("alice", "bob"),
        max_queued_tasks=2,
        max_queued_tasks_per_client=1,
        lease_ttl_s=4.2,
    )
    api = Api(core)
    yield api
    api.close()


def test_a_full_queue_refuses_with_429_until_a_lease_frees_a_slot(
    start_core: CoreFactory, database_url: str
) -> None:
    api = Api(start_core(database_url, max_queued_tasks=2, lease_ttl_s=4.2))
    try:
        assert [submit(api.client).status_code for _ in range(2)] == [202, 202]

        refused = submit(api.client)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "5"  # the lease TTL, whole seconds up
        assert refused.json() == {
            "detail": "queue full: the global cap of 2 tasks waiting for an agent "
            "(HYPERCODE_MAX_QUEUED_TASKS=2) is reached; retry after 5 s",
            "errors": [],
        }
        assert queued(api) == 2  # the refused task was not stored

        assert api.lease(api.register_agent()) is not None
        assert submit(api.client).status_code == 202
        assert submit(api.client).status_code == 429
        assert queued(api) == 2
    finally:
        api.close()


def test_the_per_client_cap_leaves_other_clients_alone(capped: Api) -> None:
    alice = capped.as_key(capped.core.client_keys["alice"])
    bob = capped.as_key(capped.core.client_keys["bob"])
    assert submit(alice).status_code == 202

    refused = submit(alice)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "5"
    assert refused.json()["detail"] == (
        "queue full: this key's cap of 1 tasks waiting for an agent "
        "(HYPERCODE_MAX_QUEUED_TASKS_PER_CLIENT=1) is reached; retry after 5 s"
    )
    assert submit(bob).status_code == 202
    # Now the whole queue is at its cap of 2: a third client is refused by that one.
    third = submit(capped.client)
    assert third.status_code == 429
    assert "global cap of 2" in third.json()["detail"]


def test_an_accepted_submission_is_replayed_while_the_queue_is_full(capped: Api) -> None:
    alice = capped.as_key(capped.core.client_keys["alice"])
    first = submit(alice, idempotency_key="order-17")
    assert first.status_code == 202
    assert submit(alice).status_code == 429  # alice's cap is reached

    replay = submit(alice, idempotency_key="order-17")
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    clash = alice.post(
        EXECUTE, json={**TASK, "priority": 5}, headers={"Idempotency-Key": "order-17"}
    )
    assert clash.status_code == 422  # the key's earlier use decides, not the cap
    assert submit(alice, idempotency_key="order-18").status_code == 429
    assert queued(capped) == 1


def test_concurrent_submits_stop_at_the_cap(start_core: CoreFactory, database_url: str) -> None:
    cap, senders, each = 5, 8, 5
    api = Api(start_core(database_url, max_queued_tasks=cap))
    statuses: list[int] = []

    def send() -> None:
        with httpx.Client(base_url=api.core.base_url, headers=api.client.headers) as http:
            statuses.extend(submit(http).status_code for _ in range(each))

    try:
        threads = [threading.Thread(target=send) for _ in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(set(statuses)) == [202, 429]
        assert statuses.count(202) == queued(api)
        if database_url.startswith("sqlite"):
            assert queued(api) == cap  # one statement at a time: exact
        else:
            # Soft: submits in flight do not see each other's uncommitted rows.
            assert cap <= queued(api) <= cap + senders
    finally:
        api.close()


def test_no_cap_by_default(api: Api) -> None:
    assert all(submit(api.client).status_code == 202 for _ in range(100))
    assert Settings(dev_mode=True).max_queued_tasks is None
    assert Settings(dev_mode=True).max_queued_tasks_per_client is None


def test_a_cap_of_0_is_no_cap_and_a_negative_one_is_refused() -> None:
    assert Settings(dev_mode=True, max_queued_tasks=0).max_queued_tasks is None
    assert Settings(dev_mode=True, max_queued_tasks_per_client=3).max_queued_tasks_per_client == 3
    with pytest.raises(ValidationError, match="max_queued_tasks_per_client"):
        Settings(dev_mode=True, max_queued_tasks_per_client=-1)


def test_the_spec_documents_429_with_retry_after(api: Api) -> None:
    spec = api.anonymous.get("/openapi.json").json()
    refused = spec["paths"][EXECUTE]["post"]["responses"]["429"]
    assert refused["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert refused["headers"]["Retry-After"]["schema"]["type"] == "integer"
