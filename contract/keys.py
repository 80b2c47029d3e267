"""Roles and the HYPERCODE_API_KEYS format: a JSON list of ApiKey entries."""

import json
from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, Field, SecretStr


class Role(StrEnum):
    client = "client"  # submits tasks and reads its own
    registrar = "registrar"  # registers agents (each then gets its own token)
    admin = "admin"  # kills agents, cancels and deletes tasks, reads every task


class ApiKey(BaseModel):
    """One configured key: the secret is only held in memory, as given by the environment."""

    name: str = Field(min_length=1, max_length=64)
    key: SecretStr = Field(min_length=16)
    roles: list[Role] = Field(min_length=1)


def api_keys_json(keys: Iterable[ApiKey]) -> str:
    """The HYPERCODE_API_KEYS value for these keys, secrets in clear (for a child's env)."""
    return json.dumps(
        [{"name": k.name, "key": k.key.get_secret_value(), "roles": list(k.roles)} for k in keys]
    )
