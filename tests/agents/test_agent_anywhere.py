"""The agent works wherever the project lives: under /tmp, in a path with spaces, via a symlink.

The sandbox binds the project's venv read-only into every run; it once mounted its private
/tmp over that bind, so a project under /tmp had no Python in its sandboxes.
"""

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.agents import AgentProcess
from harness.core import CoreProcess
from harness.service import ROOT
from tests.agents.test_agent_e2e import submit, wait_final
from tests.conftest import Api

pytestmark = pytest.mark.slow

PASSING_TEST = "def test_sum():\n    assert sum([1, 2]) == 3\n"


@pytest.fixture
def api(core: CoreProcess) -> Iterator[Api]:
    client = Api(core)
    yield client
    client.close()


def uv() -> str:
    found = shutil.which("uv") or shutil.which("uv", path=str(Path.home() / ".local" / "bin"))
    assert found, "uv is installed by scripts/bootstrap.sh"
    return found


@pytest.fixture(scope="module")
def checkout_under_tmp() -> Iterator[Path]:
    """This checkout as it stands (committed or not), copied under /tmp with its own venv."""
    with tempfile.TemporaryDirectory(prefix="hypercode ", dir="/tmp") as tmp:
        checkout = Path(tmp) / "swarm showcase"
        files = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, check=True, capture_output=True,
        ).stdout.decode().split("\0")  # fmt: skip
        for name in filter(None, files):
            if (ROOT / name).is_file():  # a file deleted but not yet committed is skipped
                (checkout / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, checkout / name)
        subprocess.run([uv(), "sync", "--frozen", "--quiet"], cwd=checkout, check=True)
        yield checkout


@pytest.mark.parametrize("through_symlink", [False, True], ids=["path with spaces", "symlink"])
def test_agent_run_from_a_checkout_under_tmp_does_every_kind_of_task(
    checkout_under_tmp: Path, api: Api, tmp_path: Path, through_symlink: bool
) -> None:
    checkout = checkout_under_tmp
    if through_symlink:
        checkout = checkout_under_tmp.parent / "link to checkout"
        checkout.unlink(missing_ok=True)
        checkout.symlink_to(checkout_under_tmp, target_is_directory=True)
    agent = AgentProcess(
        api.core.base_url, api.core.keys["registrar"], tmp_path / "agent", checkout=checkout
    )
    with agent:
        ids = [
            submit(api, "python", {"code": "import sys\nprint(sys.prefix)"}),
            submit(api, "lint", {"files": {"clean.py": "VALUE = 1\n"}}),
            submit(api, "lint", {"files": {"dirty.py": "import os\n"}}),
            submit(api, "test", {"files": {"test_sum.py": PASSING_TEST}}),
        ]
        python, clean, dirty, tests = (wait_final(api, ids)[task_id] for task_id in ids)
    assert (python["status"], python["output"]) == ("succeeded", f"{checkout / '.venv'}\n")
    assert clean["status"] == "succeeded"
    assert dirty["status"] == "failed" and "F401" in dirty["output"]
    assert tests["status"] == "succeeded" and "1 passed" in tests["output"]
    assert "sandbox isolation:" in agent.log()
