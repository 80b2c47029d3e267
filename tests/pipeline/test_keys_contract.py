"""The Dagger module cannot import the root `contract` package (its source is pipeline/ alone),
so it keeps its own copy of the roles and the key format; these tests pin the copy."""

import secrets

from pydantic import SecretStr, TypeAdapter
from swarm_pipeline.keys import ROLES, ephemeral_api_keys, keys_by_role

from contract.keys import ApiKey, Role, api_keys_json


def test_the_pipeline_knows_exactly_the_cores_roles() -> None:
    assert list(ROLES) == [role.value for role in Role]


def test_the_cores_settings_accept_the_keys_the_pipeline_makes() -> None:
    keys = TypeAdapter(list[ApiKey]).validate_json(ephemeral_api_keys())
    assert {role for key in keys for role in key.roles} == set(Role)


def test_the_pipeline_reads_keys_in_the_cores_format() -> None:
    keys = {role: secrets.token_urlsafe(24) for role in Role}
    api_keys = api_keys_json(
        ApiKey(name=f"k-{role}", key=SecretStr(key), roles=[role]) for role, key in keys.items()
    )
    assert keys_by_role(api_keys) == {role.value: key for role, key in keys.items()}
