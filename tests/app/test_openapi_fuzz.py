"""Property-based fuzzing of the real server from its own OpenAPI spec (schemathesis).

Whatever a client sends — wrong types, missing fields, odd headers, huge numbers, strange
path ids — the core must answer with a 4xx, never a 500.
"""

import json
import subprocess
import sys
from pathlib import Path

import httpx

from scripts.stack.core import CoreProcess

ALL_ROLES_KEY = "fuzz-" + "k" * 24


def schemathesis(
    core: CoreProcess, workdir: Path, token: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("st")), "run", f"{core.base_url}/openapi.json",
         "--checks", "not_a_server_error", "-H", f"Authorization: Bearer {token}",
         "--max-examples", "25", "--seed", "1", "--no-color", *extra],
        capture_output=True, text=True, timeout=600, cwd=workdir,  # its cache stays there
    )  # fmt: skip


def test_no_input_makes_the_core_fail_with_a_500(tmp_path: Path) -> None:
    keys = [{"name": "all", "key": ALL_ROLES_KEY, "roles": ["client", "registrar", "admin"]}]
    env = {"HYPERCODE_API_KEYS": json.dumps(keys)}
    with CoreProcess(tmp_path / "core", env=env) as core:
        as_keyholder = schemathesis(core, tmp_path, ALL_ROLES_KEY)
        assert as_keyholder.returncode == 0, as_keyholder.stdout[-4000:]
        assert "passed" in as_keyholder.stdout

        agent = httpx.post(
            f"{core.base_url}/api/v1/agents",
            json={"name": "fuzzed", "capabilities": ["python"]},
            headers={"Authorization": f"Bearer {ALL_ROLES_KEY}"},
        ).json()
        as_agent = schemathesis(core, tmp_path, agent["token"], "--include-path-regex", "/api/v1/")
        assert as_agent.returncode == 0, as_agent.stdout[-4000:]
