"""One task's trace, read back from a real Jaeger, spans four processes and the queue hop.

client (this test) -> core POST -> [queue] -> core `lease task`
                                          -> agent `execute task` -> MCP call -> tool server
                                                                  -> core lease route, with
                                                                     the result
"""

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from harness.agents import AgentPool
from harness.browser import rendered_dom, screenshot
from harness.core import CoreProcess
from harness.jaeger import JaegerProcess, Span, Trace, waterfall
from tests.tracing.conftest import CLIENT_SERVICE

CORE = "hypercode-core"
AGENT = "coder-agent"
TOOLS = "coder-tools"
SUBMIT_ROUTE = "POST /api/v1/execution/execute"
# The agent reports a result along with its next lease request (contract.wire.TaskReport).
REPORT_ROUTE = "POST /api/v1/agents/{agent_id}/lease"

pytestmark = [pytest.mark.slow, pytest.mark.jaeger]


@pytest.fixture
def core(jaeger: JaegerProcess, tmp_path: Path) -> Iterator[CoreProcess]:
    with CoreProcess(tmp_path / "core", env=jaeger.otel_env(CORE)) as running:
        yield running


@pytest.fixture
def agents(jaeger: JaegerProcess, core: CoreProcess, tmp_path: Path) -> Iterator[AgentPool]:
    env = jaeger.otel_env(AGENT)
    with AgentPool(core.base_url, core.keys["registrar"], tmp_path / "agents", 2, env=env) as pool:
        yield pool


def submit_under_client_span(provider: TracerProvider, core: CoreProcess) -> tuple[str, str, str]:
    """POST a task inside a client span; returns (trace id, client span id, task id)."""
    tracer = provider.get_tracer(__name__)
    with tracer.start_as_current_span("submit task", kind=trace.SpanKind.CLIENT) as span:
        headers = {"Authorization": f"Bearer {core.keys['client']}"}
        TraceContextTextMapPropagator().inject(headers)
        response = httpx.post(
            f"{core.base_url}/api/v1/execution/execute",
            json={"kind": "python", "payload": {"code": "print(6 * 7)"}},
            headers=headers,
        )
    assert response.status_code == 202, response.text
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x"), response.json()["id"]


def wait_until_final(core: CoreProcess, task_id: str, timeout_s: float = 60) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {core.keys['client']}"}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        task: dict[str, object] = httpx.get(
            f"{core.base_url}/api/v1/execution/{task_id}", headers=headers
        ).json()
        if task["status"] in ("succeeded", "failed", "cancelled"):
            return task
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} not final after {timeout_s} s")


# Every span the test looks at. A parent ends after its children, so it can reach Jaeger
# in a later batch: wait for all of them, not for one span per service.
EXPECTED_SPANS = (
    "submit task",
    SUBMIT_ROUTE,
    "lease task",
    "execute task",
    "MCP send tools/call run_python",
    "tools/call run_python",
    REPORT_ROUTE,
)


def has_every_hop(trace_: Trace) -> bool:
    return all(trace_.named(name) for name in EXPECTED_SPANS)


def the(trace_: Trace, spans: list[Span], what: str) -> Span:
    assert len(spans) == 1, f"expected one {what} in\n{waterfall(trace_)}"
    return spans[0]


def ancestors(trace_: Trace, span: Span) -> list[Span]:
    chain: list[Span] = []
    while span.parent_span_id is not None:
        span = trace_.span(span.parent_span_id)
        chain.append(span)
    return chain


def test_task_trace_links_client_core_queue_agent_and_tool_server(
    jaeger: JaegerProcess, client_tracing: TracerProvider, core: CoreProcess, agents: AgentPool
) -> None:
    trace_id, client_span_id, task_id = submit_under_client_span(client_tracing, core)
    task = wait_until_final(core, task_id)
    assert task["status"] == "succeeded", task
    assert task["trace_id"] == trace_id

    found = jaeger.query.wait_for_trace(trace_id, has_every_hop)

    client = the(found, found.by_service(CLIENT_SERVICE), "client span")
    assert client.span_id == client_span_id and client.parent_span_id is None
    submit = the(found, found.named(SUBMIT_ROUTE), "submit span")
    assert (submit.service, submit.parent_span_id) == (CORE, client.span_id)

    # The queue hop: the core stored the submit span's context with the task and both
    # the lease (in the core) and the execution (in the agent) continue it.
    lease = the(found, found.named("lease task"), "lease span")
    assert (lease.service, lease.parent_span_id) == (CORE, submit.span_id)
    assert lease.tags["task.id"] == task_id
    execute = the(found, found.named("execute task"), "agent execution span")
    assert (execute.service, execute.parent_span_id) == (AGENT, submit.span_id)
    assert execute.tags["agent.id"] == lease.tags["agent.id"]
    assert lease.tags["agent.id"] in agents.agent_ids

    # Agent -> its MCP tool server, a separate process: the server span continues the
    # client span that the MCP SDK put in the request's _meta.
    tool = the(found, found.named("tools/call run_python"), "tool server span")
    mcp_call = found.span(tool.parent_span_id or "")
    assert (tool.service, mcp_call.service) == (TOOLS, AGENT)
    assert mcp_call.name == "MCP send tools/call run_python"
    assert execute in ancestors(found, mcp_call)

    # Agent -> core: the result report carries the execution's context.
    result = the(found, found.named(REPORT_ROUTE), "report span")
    assert result.service == CORE
    assert found.span(result.parent_span_id or "").service == AGENT
    assert execute in ancestors(found, result)


def test_jaeger_ui_renders_the_task_trace_with_all_four_services(
    jaeger: JaegerProcess,
    client_tracing: TracerProvider,
    core: CoreProcess,
    agents: AgentPool,
    tmp_path: Path,
) -> None:
    trace_id, _, task_id = submit_under_client_span(client_tracing, core)
    assert wait_until_final(core, task_id)["status"] == "succeeded"
    jaeger.query.wait_for_trace(trace_id, has_every_hop)

    page = rendered_dom(jaeger.trace_url(trace_id))

    # The trace page as the UI rendered it from the query API: its header names the trace,
    # the span rows name each service (the placeholder page or an empty shell would not).
    assert trace_id[:7] in page, page[:2000]
    rows = re.findall(r'class="span-svc-name[^"]*"[^>]*>([^<]+)<', page)
    assert {CLIENT_SERVICE, CORE, AGENT, TOOLS} <= {row.strip() for row in rows}, rows
    shot = screenshot(jaeger.trace_url(trace_id), tmp_path / "trace.png")
    assert shot.read_bytes().startswith(b"\x89PNG")
