"""The Jaeger harness itself: the real build (UI embedded), OTLP in, query API and UI out."""

import re
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider

from harness.jaeger import JaegerError, JaegerPorts, JaegerProcess, Span, Trace, waterfall
from tests.tracing.conftest import CLIENT_SERVICE, client_provider

pytestmark = pytest.mark.jaeger


def test_span_sent_over_otlp_is_read_back_with_its_parent(
    jaeger: JaegerProcess, client_tracing: TracerProvider
) -> None:
    tracer = client_tracing.get_tracer(__name__)
    with tracer.start_as_current_span("outer") as outer, tracer.start_as_current_span("inner"):
        trace_id = format(outer.get_span_context().trace_id, "032x")

    trace = jaeger.query.wait_for_trace(trace_id, lambda t: len(t.spans) == 2)

    outer_span, inner_span = trace.named("outer")[0], trace.named("inner")[0]
    assert outer_span.service == CLIENT_SERVICE
    assert outer_span.parent_span_id is None
    assert inner_span.parent_span_id == outer_span.span_id
    assert CLIENT_SERVICE in jaeger.query.services()
    assert trace_id in {t.trace_id for t in jaeger.query.find_traces(CLIENT_SERVICE)}


def test_unknown_trace_is_none(jaeger: JaegerProcess) -> None:
    assert jaeger.query.get_trace("0123456789abcdef0123456789abcdef") is None


def test_the_real_ui_is_embedded_not_the_placeholder(jaeger: JaegerProcess) -> None:
    # scripts/install-jaeger.sh builds jaeger-ui and embeds it; the Go module alone would
    # serve a placeholder page. The UI's script bundle must be served too, not just a page.
    page = httpx.get(jaeger.query_url + "/search").text
    assert "This is not the Jaeger UI you are looking for" not in page
    assert "<title>Jaeger UI</title>" in page
    bundles = re.findall(r'type="module" crossorigin src="\.(/static/[^"]+\.js)"', page)
    assert bundles, page
    bundle = httpx.get(jaeger.query_url + bundles[0])
    assert bundle.status_code == httpx.codes.OK
    assert len(bundle.content) > 100_000


def test_traces_outlive_the_process_in_its_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    with JaegerProcess(tmp_path / "first", data_dir=data_dir) as first:
        provider = client_provider(first)
        with provider.get_tracer(__name__).start_as_current_span("kept") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
        first.query.wait_for_trace(trace_id, lambda t: len(t.spans) == 1)
        provider.shutdown()

    with JaegerProcess(tmp_path / "second", data_dir=data_dir) as second:
        trace = second.query.get_trace(trace_id)

    assert trace is not None
    assert [span.name for span in trace.spans] == ["kept"]


def test_bad_config_fails_clearly_and_leaves_no_process(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("service:\n  pipelines: {traces: {receivers: [nothing]}}\n")
    process = JaegerProcess(tmp_path, config=config, ports=JaegerPorts.free())

    with pytest.raises(JaegerError, match=r"jaeger\.log"):
        process.start()
    assert not process.running
    assert process.log_path.read_text()


def test_waterfall_indents_children_under_parents_in_start_order() -> None:
    spans = [
        Span("c", "a", "second child", "svc-b", start_us=3_000, duration_us=1_000),
        Span("a", None, "root", "svc-a", start_us=1_000, duration_us=9_000),
        Span("b", "a", "first child", "svc-a", start_us=2_000, duration_us=500),
        Span("d", "lost", "orphan", "svc-c", start_us=4_000, duration_us=100),
    ]

    lines = waterfall(Trace("t1", spans)).splitlines()

    assert lines[0] == "trace t1"
    assert [line.split("ms  ", 2)[-1] for line in lines[1:]] == [
        "svc-a: root",
        "  svc-a: first child",
        "  svc-b: second child",
        "svc-c: orphan",
    ]
    assert lines[2].split()[:2] == ["1.0", "ms"]


def test_a_second_jaeger_on_the_same_store_says_so(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    with JaegerProcess(tmp_path / "first", data_dir=data_dir):
        second = JaegerProcess(tmp_path / "second", data_dir=data_dir)
        with pytest.raises(JaegerError, match="another Jaeger uses the trace store"):
            second.start()
        assert not second.running
