"""Fixtures shared by every test tier: a real hypercode-core process and HTTP clients for it."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from scripts.stack.core import CoreProcess


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

    def submit(self, code: str = "print(42)", **fields: object) -> dict[str, object]:
        response = self.client.post(
            "/api/v1/execution/execute",
            json={"kind": "python", "payload": {"code": code}, **fields},
        )
        assert response.status_code == 202, response.text
        body: dict[str, object] = response.json()
        return body

    def register_agent(self, name: str = "agent", capabilities: tuple[str, ...] = ("python",)) -> RegisteredAgent:
        response = self.registrar.post(
            "/api/v1/agents", json={"name": name, "capabilities": list(capabilities)}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return RegisteredAgent(id=body["id"], http=self.as_key(body["token"]))

    def close(self) -> None:
        for http in self._clients:
            http.close()


@pytest.fixture
def core(tmp_path: Path) -> Iterator[CoreProcess]:
    with CoreProcess(tmp_path / "core") as running:
        yield running


@pytest.fixture
def api(core: CoreProcess) -> Iterator[Api]:
    client = Api(core)
    yield client
    client.close()
