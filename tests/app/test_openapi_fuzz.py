"""Property-based fuzzing of the real server from its own OpenAPI spec (schemathesis).

Whatever a client sends — wrong types, missing fields, odd headers, huge numbers, strange
path ids — the core must answer as its spec says: never a 500, only statuses the spec
lists for the route, and bodies (errors included) in the documented schema. Run once per
kind of caller: a client key, an agent token, an admin key, and no key at all.
"""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.core import CoreProcess

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


@pytest.fixture(scope="module")
def fuzzed_core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoreProcess]:
    with CoreProcess(tmp_path_factory.mktemp("fuzzed") / "core") as core:
        yield core


def agent_token(core: CoreProcess) -> str:
    agent = httpx.post(
        f"{core.base_url}/api/v1/agents",
        json={"name": "fuzzed", "capabilities": ["python"]},
        headers={"Authorization": f"Bearer {core.keys['registrar']}"},
    )
    assert agent.status_code == 201, agent.text
    token: str = agent.json()["token"]
    return token


@pytest.mark.parametrize("caller", ["client", "agent", "admin", "anonymous"])
def test_every_answer_is_one_the_spec_documents(
    fuzzed_core: CoreProcess, tmp_path: Path, caller: str
) -> None:
    token = {
        "client": lambda: fuzzed_core.keys["client"],
        "admin": lambda: fuzzed_core.keys["admin"],
        "agent": lambda: agent_token(fuzzed_core),
        "anonymous": lambda: None,
    }[caller]()
    auth = [] if token is None else ["-H", f"Authorization: Bearer {token}"]
    run = subprocess.run(
        [str(Path(sys.executable).with_name("st")), "run", f"{fuzzed_core.base_url}/openapi.json",
         "--checks", CHECKS, *auth, "--max-examples", "25", "--seed", "1", "--no-color"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,  # its cache stays there
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:]
    assert "passed" in run.stdout
