"""The agent's span continues the task's trace, and the MCP tool span is its child."""

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agents.coder.telemetry import context_from_traceparent
from agents.coder.tool_client import ToolClient
from agents.coder.tool_server import server

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TASK_TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """The global provider can be set once per process: reuse it if someone already did."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("OTEL_SDK_DISABLED", raising=False)  # the SDK checks it on every get_tracer
        exporter = InMemorySpanExporter()
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            provider = TracerProvider()
            trace.set_tracer_provider(provider)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        yield exporter


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    return next(span for span in spans if span.name == name)


@pytest.mark.anyio
async def test_tool_span_is_a_child_of_the_agent_span_in_the_task_trace(
    spans: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("test")
    async with ToolClient(server) as tools:
        with tracer.start_as_current_span(
            "execute task", context=context_from_traceparent(TASK_TRACEPARENT)
        ):
            await tools.run_task("python", {"code": "print(1)"}, 10)
    finished = spans.get_finished_spans()
    agent = by_name(finished, "execute task")
    send = by_name(finished, "MCP send tools/call run_python")
    tool = by_name(finished, "tools/call run_python")
    sandbox = by_name(finished, "sandbox run_python")
    for span in (agent, send, tool, sandbox):
        assert span.context is not None
        assert format(span.context.trace_id, "032x") == TRACE_ID
    assert agent.parent is not None and format(agent.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert send.parent is not None and agent.context is not None
    assert send.parent.span_id == agent.context.span_id
    assert tool.parent is not None and send.context is not None
    assert tool.parent.span_id == send.context.span_id
    assert sandbox.parent is not None and tool.context is not None
    assert sandbox.parent.span_id == tool.context.span_id


@pytest.mark.parametrize("value", [None, "", "garbage", "00-" + "0" * 32 + "-" + "0" * 16 + "-01"])
def test_missing_or_invalid_traceparent_starts_a_new_trace(value: str | None) -> None:
    assert context_from_traceparent(value) is None
