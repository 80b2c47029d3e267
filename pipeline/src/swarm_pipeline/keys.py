"""API keys for hypercode-core in the pipeline, in the HYPERCODE_API_KEYS JSON format.

The staging graph is thrown away after each run, so by default it gets fresh random keys;
a caller can pass its own (a Dagger secret) instead. No key is ever written to the repo.
"""

import json
import secrets
from collections.abc import Mapping

from .decisions import ReportError

ROLES = ("client", "registrar", "admin")


def ephemeral_api_keys() -> str:
    """One fresh key per role, as a HYPERCODE_API_KEYS value."""
    return json.dumps(
        [
            {"name": f"pipeline-{role}", "key": secrets.token_urlsafe(32), "roles": [role]}
            for role in ROLES
        ]
    )


def keys_by_role(api_keys: str) -> dict[str, str]:
    """The first key that has each role; every role must have one."""
    try:
        entries = json.loads(api_keys)
    except json.JSONDecodeError as error:
        raise ReportError(f"HYPERCODE_API_KEYS is not JSON: {error}") from error
    if not isinstance(entries, list):
        raise ReportError("HYPERCODE_API_KEYS must be a JSON list of {name, key, roles}")
    found: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, Mapping) and isinstance(entry.get("key"), str):
            for role in entry.get("roles") or []:
                found.setdefault(str(role), entry["key"])
    missing = [role for role in ROLES if role not in found]
    if missing:
        raise ReportError(f"HYPERCODE_API_KEYS has no key with role(s): {', '.join(missing)}")
    return {role: found[role] for role in ROLES}
