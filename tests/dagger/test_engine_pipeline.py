"""A tiny pipeline through a real Dagger engine: a container runs, a service starts,
another container reaches it by its binding, and a failing step fails.

Needs an engine. Here: `scripts/dagger-offline.sh up` then `source ~/.cache/swarm/dagger/env.sh`
(docs/dagger-offline.md); with internet, any Dagger install. Without one the session cannot
open and these tests fail: they are marked `dagger` so that a run can deselect them, never skip.
"""

import os

import dagger
import pytest
from dagger import dag

pytestmark = [pytest.mark.dagger, pytest.mark.anyio]

# The offline registry serves a Debian-built stand-in under this docker.io name.
PYTHON_IMAGE = os.environ.get("DAGGER_TEST_PYTHON_IMAGE", "python:3.11-slim")
WEB_PORT = 8080


def python() -> dagger.Container:
    return dag.container().from_(PYTHON_IMAGE)


async def test_container_runs_a_command(engine: None) -> None:
    out = await python().with_exec(["python", "-c", "print(6 * 7)"]).stdout()

    assert out == "42\n"


async def test_service_is_reached_by_its_binding(engine: None) -> None:
    web = (
        python()
        .with_new_file("/srv/greeting.txt", "hello from the service")
        .with_workdir("/srv")
        .with_exposed_port(WEB_PORT)
        .as_service(args=["python", "-m", "http.server", str(WEB_PORT)])
    )
    fetch = (
        "import urllib.request; "
        f"print(urllib.request.urlopen('http://web:{WEB_PORT}/greeting.txt').read().decode())"
    )

    out = await (
        python().with_service_binding("web", web).with_exec(["python", "-c", fetch]).stdout()
    )

    assert out == "hello from the service\n"


async def test_failing_step_raises_exec_error(engine: None) -> None:
    with pytest.raises(dagger.ExecError) as failure:
        await python().with_exec(["python", "-c", "raise SystemExit(3)"]).sync()

    assert failure.value.exit_code == 3
