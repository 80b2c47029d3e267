"""Fixtures shared by every test tier: a real hypercode-core process and HTTP clients for it.

Also the session's reaper: whatever a test started through the harness and left running
(a failed test, an interrupted fixture) is stopped when the session ends.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.core import CoreProcess
from harness.postgres import PostgresDatabases, PostgresProcess, given_test_server
from harness.service import stop_all

pytest_plugins = ("tests.dagger.engine",)  # the engine session of the engine tests


@dataclass
class RegisteredAgent:
    id: str
    http: httpx.Client  # carries the agent's own token


class Api:
    """One authenticated client per role against a running core."""

    def __init__(self, core: CoreProcess) -> None:
        self.core = core
        self._clients: list[httpx.Client] = []
        self.client = self.as_key(core.keys["client"])
        self.admin = self.as_key(core.keys["admin"])
        self.registrar = self.as_key(core.keys["registrar"])
        self.anonymous = self._new({})

    def _new(self, headers: dict[str, str]) -> httpx.Client:
        http = httpx.Client(base_url=self.core.base_url, headers=headers, timeout=30)
        self._clients.append(http)
        return http

    def as_key(self, key: str) -> httpx.Client:
        return self._new({"Authorization": f"Bearer {key}"})

    def submit(self, code: str = "print(42)", **fields: object) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/execution/execute",
            json={"kind": "python", "payload": {"code": code}, **fields},
        )
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    def register_agent(
        self, name: str = "agent", capabilities: tuple[str, ...] = ("python",)
    ) -> RegisteredAgent:
        response = self.registrar.post(
            "/api/v1/agents", json={"name": name, "capabilities": list(capabilities)}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return RegisteredAgent(id=body["id"], http=self.as_key(body["token"]))

    def lease(self, agent: RegisteredAgent, wait_s: float = 2) -> dict[str, Any] | None:
        response = agent.http.post(f"/api/v1/agents/{agent.id}/lease", json={"wait_s": wait_s})
        assert response.status_code in (200, 204), response.text
        return None if response.status_code == 204 else response.json()

    def heartbeat(self, agent: RegisteredAgent, *lease_ids: str) -> dict[str, Any]:
        """A heartbeat naming these leases; returns the core's HeartbeatAck."""
        response = agent.http.post(
            f"/api/v1/agents/{agent.id}/heartbeat", json={"lease_ids": list(lease_ids)}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def report(
        self, agent: RegisteredAgent, lease: dict[str, Any], status: str = "succeeded"
    ) -> httpx.Response:
        return agent.http.post(
            f"/api/v1/execution/{lease['task']['id']}/result",
            json={"lease_id": lease["lease_id"], "status": status, "output": "done"},
        )

    def task(self, task_id: object) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/execution/{task_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def close(self) -> None:
        for http in self._clients:
            http.close()


CoreFactory = Callable[..., CoreProcess]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    """The server SWARM_TEST_POSTGRES_URL names (the pipeline's service), else a throwaway one."""
    external = given_test_server()
    if external is not None:
        yield external
        return
    with PostgresProcess() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that asks for it runs once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hypercode.db'}"
    server: PostgresDatabases = request.getfixturevalue("postgres")
    return server.create_database()


@pytest.fixture
def start_core(tmp_path: Path) -> Iterator[CoreFactory]:
    """Start cores with given settings (HYPERCODE_* env) and extra client keys (`clients`,
    by name); all are stopped after the test."""
    started: list[CoreProcess] = []

    def start(
        database_url: str | None = None, *, clients: tuple[str, ...] = (), **settings: object
    ) -> CoreProcess:
        env = {f"HYPERCODE_{name.upper()}": str(value) for name, value in settings.items()}
        workdir = tmp_path / f"core{len(started)}"
        core = CoreProcess(workdir, database_url=database_url, env=env, clients=clients)
        started.append(core)
        core.start()
        return core

    yield start
    for core in started:
        core.stop()


@pytest.fixture
def core(start_core: CoreFactory) -> CoreProcess:
    return start_core()


@pytest.fixture
def api(core: CoreProcess) -> Iterator[Api]:
    client = Api(core)
    yield client
    client.close()


@pytest.fixture
def db_api(start_core: CoreFactory, database_url: str) -> Iterator[Api]:
    """Like api, on each backend in turn."""
    client = Api(start_core(database_url))
    yield client
    client.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop every process group a test left behind; pytest runs this even after Ctrl-C."""
    left = stop_all()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if left and reporter is not None:
        reporter.write_line(f"stopped what tests left running: {', '.join(sorted(left))}")
