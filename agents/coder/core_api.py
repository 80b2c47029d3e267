"""HTTP calls to hypercode-core (docs/api.md), retried with backoff while it is unreachable."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx
import stamina

from contract.wire import (
    AgentRegistered,
    Heartbeat,
    HeartbeatAck,
    Lease,
    LeaseRequest,
    ResultReport,
    TaskReport,
)

logger = logging.getLogger(__name__)

API = "/api/v1"
# The long-poll may legitimately take wait_s; the rest of the budget is for a busy core.
LEASE_TIMEOUT_MARGIN_S = 10.0
# 500 included: a core restarting mid-request may answer it once; calls are safe to repeat
# (the lease id fences result reports).
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


class Refused(Exception):
    """The core said no for good (401/403/404/409): retrying cannot help."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        super().__init__(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:200]}"
        )


def is_transient(error: Exception) -> bool:
    """Worth retrying: the core is down, restarting or overloaded."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code in TRANSIENT_STATUS
    return isinstance(error, httpx.TransportError)


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code in TRANSIENT_STATUS:
        response.raise_for_status()
    if response.is_client_error:
        raise Refused(response)
    response.raise_for_status()
    return response


class CoreApi:
    """The registrar's view of the core: registering new agents."""

    def __init__(self, http: httpx.AsyncClient, registrar_key: str) -> None:
        self._http = http
        self._registrar_key = registrar_key

    # An agent may start before the core: keep trying until it answers.
    @stamina.retry(on=is_transient, attempts=None, timeout=None)
    async def register(self, name: str, capabilities: Sequence[str]) -> AgentSession:
        response = await self._http.post(
            f"{API}/agents",
            json={"name": name, "capabilities": list(capabilities)},
            headers={"Authorization": f"Bearer {self._registrar_key}"},
        )
        registration = AgentRegistered.model_validate(_checked(response).json())
        return AgentSession(self._http, registration)


class AgentSession:
    """One registered agent's calls, authenticated with its own token."""

    def __init__(self, http: httpx.AsyncClient, registration: AgentRegistered) -> None:
        self._http = http
        self.agent_id = registration.id
        self.name = registration.name
        self._auth = {"Authorization": f"Bearer {registration.token}"}

    @stamina.retry(on=is_transient, attempts=None, timeout=60.0)
    async def heartbeat(self, lease_ids: Sequence[str]) -> HeartbeatAck:
        """Say this agent is alive and extend the leases it is working on."""
        body = Heartbeat(lease_ids=list(lease_ids))
        response = await self._post(f"/agents/{self.agent_id}/heartbeat", json=body.model_dump())
        return HeartbeatAck.model_validate(response.json())

    @stamina.retry(on=is_transient, attempts=None, timeout=None)
    async def lease(self, wait_s: float) -> Lease | None:
        """Long-poll for a task, marked running as it is leased; None when none came in wait_s."""
        return await self._lease(LeaseRequest(wait_s=wait_s, start=True))

    @stamina.retry(on=is_transient, timeout=120.0)
    async def report_and_lease(self, report: TaskReport) -> Lease | None:
        """Report a task's result and take the next task if one is queued, in one call.

        Refused (nothing leased) when the core refuses the report. A retry after the core
        stored the report but its answer was lost is refused as a stale lease (409).
        """
        return await self._lease(LeaseRequest(wait_s=0, start=True, report=report))

    @stamina.retry(on=is_transient, timeout=120.0)
    async def report(self, task_id: str, report: ResultReport) -> None:
        await self._post(f"/execution/{task_id}/result", json=report.model_dump(mode="json"))

    @stamina.retry(on=is_transient, timeout=30.0)
    async def deregister(self) -> None:
        """Leave the pool; the core re-queues anything still leased to this agent."""
        response = await self._http.delete(f"{API}/agents/{self.agent_id}", headers=self._auth)
        if response.status_code != httpx.codes.NOT_FOUND:  # already removed is fine
            _checked(response)

    async def _lease(self, body: LeaseRequest) -> Lease | None:
        response = await self._post(
            f"/agents/{self.agent_id}/lease",
            json=body.model_dump(mode="json"),
            read_timeout_s=body.wait_s + LEASE_TIMEOUT_MARGIN_S,
        )
        if response.status_code == httpx.codes.NO_CONTENT:
            return None
        return Lease.model_validate(response.json())

    async def _post(
        self, path: str, *, json: dict[str, Any] | None = None, read_timeout_s: float | None = None
    ) -> httpx.Response:
        timeout = self._http.timeout if read_timeout_s is None else httpx.Timeout(read_timeout_s)
        response = await self._http.post(
            f"{API}{path}", json=json, headers=self._auth, timeout=timeout
        )
        return _checked(response)
