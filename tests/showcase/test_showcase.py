"""The README's main job, run as a user would: `python -m scripts.showcase`."""

import json
import sqlite3
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.jaeger import JaegerProcess, JaegerQuery
from harness.service import Command
from scripts.showcase import parse_args

pytestmark = pytest.mark.jaeger

TRACED_OUTPUT = "hello from the swarm: 499999500000\n"


def showcase_command(out: Path, *options: str) -> Command:
    return Command(
        [
            sys.executable,
            "-m",
            "scripts.showcase",
            "--profile",
            "smoke",
            "--scratch-jaeger",
            "--out",
            out,
            *options,
        ],
        log_path=out / "showcase.log",
    )


def pending_in_database(out: Path) -> dict[str, int]:
    """Tasks not finished in the core's SQLite file, by status, after the showcase ran."""
    [database] = out.glob("*/core/hypercode.db")
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT status, COUNT(*) FROM tasks"
            " WHERE status IN ('queued', 'leased', 'running') GROUP BY status"
        ).fetchall()
    return dict(rows)


def wait_for_file(pattern: str, under: Path, process: Command) -> Path:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        found = sorted(under.glob(pattern))
        if found:
            return found[0]
        assert process.running, (
            f"showcase exited early with {process.returncode}; its log ends with:\n"
            + "\n".join(process.log().splitlines()[-60:])
        )
        time.sleep(1)
    raise TimeoutError(f"no {pattern} under {under}")


def test_showcase_passes_its_slas_and_leaves_a_whole_trace(tmp_path: Path) -> None:
    showcase = showcase_command(tmp_path, "--keep-up")
    showcase.spawn()
    try:
        outcome = json.loads(wait_for_file("*/showcase.json", tmp_path, showcase).read_text())
        assert outcome["failures"] == [] and outcome["passed"] is True
        assert outcome["sla_passed"] is True
        traced = outcome["traced_task"]
        assert (traced["status"], traced["output"]) == ("succeeded", TRACED_OUTPUT)
        assert outcome["work"]["counts"]["failed"] == 0
        assert outcome["work"]["finished"] > 0
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
        code = showcase.stop(timeout=120)  # SIGTERM: the showcase stops like on Ctrl-C
    output = showcase.log()
    assert code == 0, output
    assert "Verdict: PASSED" in output and "API SLA" in output
    assert "Backpressure: none (no submit_task refused with 429)" in output  # no cap by default
    assert "Tasks after the load:" in output and "tasks/s" in output
    final = outcome["work"]["final_counts"]
    assert final["failed"] == 0 and final["queued"] == final["leased"] == final["running"] == 0
    assert "Tasks at the end: " in output
    assert "One whole trace" in output
    assert "Traces of this load" in output and "submit_task:" in output
    assert pending_in_database(tmp_path) == {}
    try:  # everything it started is gone
        httpx.get(outcome["jaeger_ui"], timeout=2)
        raise AssertionError("Jaeger still answers after the showcase stopped")
    except httpx.TransportError:
        pass
    # The links outlive the run: a new Jaeger on the store it printed serves the trace.
    assert outcome["replay_command"].endswith(f"--data-dir {outcome['traces_kept_in']}")
    with JaegerProcess(tmp_path / "replay", data_dir=Path(outcome["traces_kept_in"])) as replay:
        kept = replay.query.get_trace(outcome["trace_id"])
    assert kept is not None
    assert {span.service for span in kept.spans} >= set(outcome["trace_services"])


@pytest.mark.slow
def test_showcase_fails_when_no_agent_can_run_the_work(tmp_path: Path) -> None:
    """No agents: the API still meets its SLA, but the work does not get done."""
    # Without agents nothing can finish the traced task: no use waiting the default minute.
    showcase = showcase_command(tmp_path, "--agents", "0", "--traced-task-wait", "3")
    with showcase:
        code = showcase.wait(timeout=600)
    output = showcase.log()
    assert code == 1, output
    outcome = json.loads(next(tmp_path.glob("*/showcase.json")).read_text())
    assert outcome["passed"] is False
    assert outcome["traced_task"]["status"] == "queued"
    assert "Verdict: FAILED" in output
    assert "  - the traced task never finished (still queued)" in output
    assert "because submits outpace 0 agent(s)" in output
    assert outcome["work"]["cancelled_backlog"] > 0
    assert pending_in_database(tmp_path) == {}


@pytest.mark.parametrize("seconds", ["0", "-3", "nan", "inf"])
def test_traced_task_wait_must_be_a_positive_number_of_seconds(
    seconds: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--traced-task-wait", seconds])
    assert "not a positive number of seconds" in capsys.readouterr().err
    assert parse_args(["--traced-task-wait", "2.5"]).traced_task_wait == 2.5
