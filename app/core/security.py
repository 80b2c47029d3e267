"""API keys and agent tokens: only their SHA-256 digests are compared or stored."""

import hashlib
import secrets
from dataclasses import dataclass

from app.store.rows import AgentRow
from contract.keys import ApiKey, Role

AGENT_TOKEN_PREFIX = "hca_"  # noqa: S105 # nosec B105 (a marker, not a secret)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_agent_token() -> str:
    return AGENT_TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class AgentIdentity:
    """A registered agent, known by its own token."""

    id: str
    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class Caller:
    """Who is calling: a configured key (with roles) or a registered agent (agent set)."""

    name: str
    roles: frozenset[Role]
    agent: AgentIdentity | None = None

    @property
    def tasks_of(self) -> str | None:
        """Whose tasks this caller may read: everyone's (None) for an admin, else its own."""
        return None if Role.admin in self.roles else self.name

    @classmethod
    def for_agent(cls, agent: AgentRow) -> "Caller":
        identity = AgentIdentity(agent.id, tuple(agent.capabilities))
        return cls(name=f"agent {agent.name}", roles=frozenset(), agent=identity)


class KeyRing:
    """The configured API keys, looked up by digest so no secret is compared char by char."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self._by_digest = {
            digest(k.key.get_secret_value()): Caller(name=k.name, roles=frozenset(k.roles))
            for k in keys
        }

    def find(self, secret: str) -> Caller | None:
        return self._by_digest.get(digest(secret))
