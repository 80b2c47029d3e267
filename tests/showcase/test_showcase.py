"""The README's main job, run as a user would: `python -m scripts.showcase`."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from scripts.stack.core import ROOT
from scripts.stack.jaeger import JaegerQuery

pytestmark = pytest.mark.jaeger


def wait_for_file(pattern: str, under: Path, process: subprocess.Popen[bytes]) -> Path:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        found = sorted(under.glob(pattern))
        if found:
            return found[0]
        assert process.poll() is None, f"showcase exited early with {process.returncode}"
        time.sleep(1)
    raise TimeoutError(f"no {pattern} under {under}")


def test_showcase_passes_its_slas_and_leaves_a_whole_trace(tmp_path: Path) -> None:
    showcase = subprocess.Popen(
        [sys.executable, "-m", "scripts.showcase", "--profile", "smoke", "--keep-up",
         "--out", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        outcome = json.loads(wait_for_file("*/showcase.json", tmp_path, showcase).read_text())
        assert outcome["sla_passed"] is True
        assert set(outcome["trace_services"]) >= {
            "swarm-client",
            "hypercode-core",
            "coder-agent",
            "coder-tools",
        }
        assert Path(outcome["report_html"]).stat().st_size > 10_000

        query = JaegerQuery(outcome["jaeger_ui"])
        trace = query.get_trace(outcome["trace_id"])
        query.close()
        assert trace is not None
        assert {span.service for span in trace.spans} >= set(outcome["trace_services"])
        assert outcome["trace_url"].endswith(outcome["trace_id"])
    finally:
        showcase.send_signal(signal.SIGINT)
        output = showcase.communicate(timeout=120)[0].decode()
    assert showcase.returncode == 0, output
    assert "SLA verdict" in output and "PASSED" in output
    assert "One whole trace" in output
    try:  # everything it started is gone
        httpx.get(outcome["jaeger_ui"], timeout=2)
        raise AssertionError("Jaeger still answers after the showcase stopped")
    except httpx.TransportError:
        pass
