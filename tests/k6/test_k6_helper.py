"""harness/k6.py: reading durations, keys and summaries, and a target that is not there."""

import socket
from pathlib import Path

import pytest

from harness.k6 import (
    SUMMARY_SCHEMA,
    K6Error,
    LoadSummary,
    OperationStats,
    OperationTraces,
    Target,
    TracedRequest,
    TraceLinks,
    parse_duration,
    run_swarm_load_test,
    trace_link_lines,
)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("10m0s", 600), ("1m30s", 90), ("250ms", 0.25)]
)
def test_parse_duration_reads_k6_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "ten minutes", "5s and more"])
def test_parse_duration_refuses_anything_else(text: str) -> None:
    with pytest.raises(K6Error, match="not a k6 duration"):
        parse_duration(text)


def test_target_names_the_missing_roles() -> None:
    with pytest.raises(K6Error, match=r"role\(s\) admin, registrar are missing"):
        Target.from_role_keys("http://127.0.0.1:1", {"client": "k"})


def test_summary_of_another_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text('{"schema": "k6-default", "metrics": {}}')

    with pytest.raises(K6Error, match=f"expected '{SUMMARY_SCHEMA}'"):
        LoadSummary.from_file(path)


def test_summary_missing_fields_is_refused() -> None:
    with pytest.raises(K6Error, match="malformed swarm summary"):
        LoadSummary.from_document({"schema": SUMMARY_SCHEMA, "profile": "ci"})


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_target_stops_k6_in_setup_with_a_clear_message(tmp_path: Path) -> None:
    base_url = f"http://127.0.0.1:{_closed_port()}"
    target = Target(base_url, "client-key", "registrar-key", "admin-key")

    run = run_swarm_load_test(target, tmp_path, profile="smoke")

    assert run.exit_code != 0
    assert f"hypercode-core is not reachable at {base_url}" in run.log_text()
    assert run.summary is not None and not run.summary.passed
    assert run.summary.iterations == 0


def test_run_that_never_reached_the_operations_fails_its_thresholds(tmp_path: Path) -> None:
    # No keys: setup stops before any request, so no SLA threshold alone could fail it.
    run = run_swarm_load_test(Target("http://127.0.0.1:1", "", "", ""), tmp_path, profile="smoke")

    assert "missing environment variable(s): CLIENT_KEY, REGISTRAR_KEY, ADMIN_KEY" in run.log_text()
    assert run.summary is not None and not run.summary.passed
    failed = {verdict.metric for verdict in run.summary.failed_thresholds()}
    assert "http_reqs{operation:submit_task}" in failed


def test_report_lists_a_few_failed_requests_and_counts_the_rest() -> None:
    # 10 failed; Jaeger was asked for 8 of them; the report shows 5.
    failed = [
        TracedRequest(trace_id=f"{i:032x}", url=f"http://jaeger/trace/{i}", duration_ms=10.0 * i,
                      status=503, sampled=False)
        for i in range(8)
    ]  # fmt: skip
    operations = {"submit_task": OperationTraces(sampled=0, slowest=[], failed=failed)}
    traces = TraceLinks(jaeger_url="http://jaeger", run_id="r", sampled_share=0.01, max_failed=8,
                        operations=operations)  # fmt: skip
    stats = {"submit_task": OperationStats(count=40, failed=10, failed_rate=0.25)}
    summary = LoadSummary.model_construct(traces=traces, operations=stats)
    lines = trace_link_lines(summary, failed_shown=5)
    assert "submit_task: 0 sampled, 10 failed" in lines[1]
    assert [line.split()[-1] for line in lines if "FAILED" in line] == [
        f"http://jaeger/trace/{i}" for i in range(5)
    ]
    assert [line.strip() for line in lines[-2:]] == [
        "... 3 more failed (summary.json)",
        "... 2 more failed, not listed (Jaeger is asked for at most 8 per operation)",
    ]
