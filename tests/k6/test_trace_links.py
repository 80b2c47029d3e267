"""From the k6 summary to the trace: every link it prints opens a trace that Jaeger holds.

One smoke run against a real core and Jaeger, with two twists: the core samples no new
trace at its door (ratio 0), so any core span in a linked trace is there because k6's
sampled `traceparent` was honoured; and the admin key is a client key, so every kill_agent
request fails (403) and must be listed with its trace.
"""

from collections.abc import Iterator

import pytest

from harness.core import CoreProcess
from harness.jaeger import JaegerProcess, Trace
from harness.k6 import (
    K6Run,
    Target,
    TracedRequest,
    TraceSink,
    run_swarm_load_test,
    trace_link_lines,
)

pytestmark = [pytest.mark.slow, pytest.mark.jaeger]

K6_SERVICE = "swarm-k6"
CORE = "hypercode-core"
SHARE = 0.2
# Fewer than the smoke run's kill requests: the rest are counted, not listed.
MAX_FAILED = 50


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JaegerProcess]:
    with JaegerProcess(tmp_path_factory.mktemp("jaeger")) as running:
        yield running


@pytest.fixture(scope="module")
def run(jaeger: JaegerProcess, tmp_path_factory: pytest.TempPathFactory) -> K6Run:
    workdir = tmp_path_factory.mktemp("load")
    no_new_traces = {
        **jaeger.otel_env(CORE),
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0",
    }
    with CoreProcess(workdir / "core", env=no_new_traces) as core:
        keys = {**core.keys, "admin": core.keys["client"]}  # kill_agent: 403, every time
        return run_swarm_load_test(
            Target.from_role_keys(core.base_url, keys),
            workdir / "k6",
            profile="smoke",
            traces=TraceSink(
                jaeger.otlp_http_endpoint,
                jaeger.query_url,
                sampled_share=SHARE,
                max_failed=MAX_FAILED,
            ),
        )


def k6_span_of(trace: Trace, operation: str) -> list[str]:
    return [span.name for span in trace.by_service(K6_SERVICE) if span.name == operation]


def linked_trace(jaeger: JaegerProcess, request: TracedRequest) -> Trace:
    assert request.url == jaeger.trace_url(request.trace_id)
    trace = jaeger.query.get_trace(request.trace_id)
    assert trace is not None, f"{request.url} links to no trace"
    return trace


def test_slowest_sampled_requests_link_to_traces_through_the_core(
    run: K6Run, jaeger: JaegerProcess
) -> None:
    assert run.summary is not None, run.log_text()
    links = run.summary.traces
    assert links is not None and links.error is None, links
    assert links.sampled_share == SHARE
    for operation in ("submit_task", "query_status"):
        found = links.operations[operation]
        requested = run.summary.operations[operation].count
        # About SHARE of the requests, far from none and far from all.
        assert 0.05 * requested < found.sampled < 0.5 * requested, (operation, found.sampled)
        durations = [request.duration_ms for request in found.slowest]
        assert len(durations) == 5 and durations == sorted(durations, reverse=True)
        for request in found.slowest:
            trace = jaeger.query.wait_for_trace(
                request.trace_id, lambda t: bool(t.by_service(CORE)), timeout_s=10
            )
            assert linked_trace(jaeger, request).trace_id == trace.trace_id
            assert k6_span_of(trace, operation) == [operation]
            # The core sampled no new trace: its span is here because k6's flag said so.
            assert trace.by_service(CORE), f"no core span in {request.url}"
            assert request.sampled and request.status < 400


def test_failed_requests_are_listed_with_their_traces_up_to_the_bound(
    run: K6Run, jaeger: JaegerProcess
) -> None:
    assert run.summary is not None and run.summary.traces is not None
    kill = run.summary.operations["kill_agent"]
    failed = run.summary.traces.operations["kill_agent"].failed
    assert kill.count > MAX_FAILED and kill.failed == kill.count and kill.failed_rate == 1.0
    assert run.summary.traces.max_failed == MAX_FAILED
    assert len(failed) == MAX_FAILED
    assert len({request.trace_id for request in failed}) == len(failed)
    for request in failed:
        assert request.status == 403
        trace = linked_trace(jaeger, request)
        k6_span = trace.by_service(K6_SERVICE)[0]
        assert k6_span.tags["error"] is True
        assert k6_span.tags["http.response.status_code"] == 403
    # The operations that worked have no failure to show.
    assert run.summary.traces.operations["submit_task"].failed == []


def test_k6_and_the_report_print_the_links(run: K6Run) -> None:
    assert run.summary is not None
    first_failed = run.summary.traces.operations["kill_agent"].failed[0]  # type: ignore[union-attr]
    assert first_failed.url in run.log_text()
    lines = trace_link_lines(run.summary)
    assert any(first_failed.url in line and "FAILED" in line for line in lines)
    assert any(line.strip().startswith("slow") for line in lines)
    unlisted = run.summary.operations["kill_agent"].failed - MAX_FAILED
    not_listed = (
        f"... {unlisted} more failed, not listed "
        f"(Jaeger is asked for at most {MAX_FAILED} per operation)"
    )
    assert not_listed in [line.strip() for line in lines]
    assert not_listed in run.log_text()  # k6's own summary says it too
