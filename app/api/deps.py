"""Dependencies of the routes: who is calling, checked for the route's role, with the app's
services.

Each /api/v1 route has ONE dependency that authenticates, checks the role and hands over the
services: FastAPI solves every dependency of a chain separately (its own parameters, headers,
query and cookies each time), which cost about a tenth of a request's CPU when they were
chained (docs/benchmarks.md, "Profile of the request path").
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from opentelemetry.sdk.trace import TracerProvider

from app.core.config import Settings
from app.core.security import AGENT_TOKEN_PREFIX, AgentIdentity, Caller, KeyRing, digest
from app.services.queue import QueueSignal
from app.store import QueueCap, Store
from contract.keys import Role


@dataclass
class Services:
    """Everything the routes use, built once in the app's lifespan."""

    settings: Settings
    store: Store
    signal: QueueSignal
    keys: KeyRing
    tracer_provider: TracerProvider | None
    queue_caps: tuple[QueueCap, ...]  # from the settings; empty: submits are never refused


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread.
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


@dataclass(frozen=True)
class Authorized:
    """A caller the route lets in, and the services to serve it with."""

    caller: Caller
    services: Services


@dataclass(frozen=True)
class AgentAuthorized:
    """An agent the route lets in (by its own token), and the services to serve it with."""

    agent: AgentIdentity
    services: Services


_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


async def authenticate(request: Request) -> Authorized:
    """The caller named by the bearer key or agent token; 401 when there is none."""
    services = services_of(request)
    header = request.headers.get("authorization")
    if not header:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing 'Authorization: Bearer <key>' header",
            _UNAUTHORIZED,
        )
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Authorization must be 'Bearer <key>'", _UNAUTHORIZED
        )
    secret = secret.strip()
    if secret.startswith(AGENT_TOKEN_PREFIX):
        agent = await services.store.agent_by_token(digest(secret))
        caller = None if agent is None else Caller.for_agent(agent)
    else:
        caller = services.keys.find(secret)
    if caller is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked key", _UNAUTHORIZED)
    return Authorized(caller, services)


def require(*roles: Role) -> Callable[[Request], Awaitable[Authorized]]:
    async def check(request: Request) -> Authorized:
        auth = await authenticate(request)
        if auth.caller.roles.isdisjoint(roles):
            wanted = " or ".join(roles)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this route needs the role {wanted}; '{auth.caller.name}' lacks it",
            )
        return auth

    return check


Submitter = Annotated[Authorized, Depends(require(Role.client))]
Reader = Annotated[Authorized, Depends(require(Role.client, Role.admin))]
Admin = Annotated[Authorized, Depends(require(Role.admin))]
Registrar = Annotated[Authorized, Depends(require(Role.registrar))]


async def any_agent(request: Request) -> AgentAuthorized:
    auth = await authenticate(request)
    if auth.caller.agent is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this route needs an agent token")
    return AgentAuthorized(auth.caller.agent, auth.services)


AgentCaller = Annotated[AgentAuthorized, Depends(any_agent)]
TaskId = Annotated[uuid.UUID, Path(description="the task's id (a UUID)")]
AgentId = Annotated[uuid.UUID, Path(description="the agent's id (a UUID)")]


async def same_agent(agent_id: AgentId, request: Request) -> AgentAuthorized:
    auth = await any_agent(request)
    if auth.agent.id != str(agent_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "an agent token acts only for its own agent")
    return auth


AgentSelf = Annotated[AgentAuthorized, Depends(same_agent)]


async def admin_or_same_agent(agent_id: AgentId, request: Request) -> Authorized:
    auth = await authenticate(request)
    caller = auth.caller
    if Role.admin in caller.roles or (caller.agent and caller.agent.id == str(agent_id)):
        return auth
    raise HTTPException(
        status.HTTP_403_FORBIDDEN, "only an admin key or the agent's own token may remove an agent"
    )


AgentRemover = Annotated[Authorized, Depends(admin_or_same_agent)]
