"""The showcase: the swarm up on embedded defaults, a k6 swarm load, the traces, a report.

Starts Jaeger (local binary), hypercode-core on SQLite and coder agents, all exporting
traces; sends one traced task through the swarm, runs the k6 swarm load test, then prints
the k6 summary with its SLA verdicts, what happened to the work (succeeded, failed, still
queued, agent throughput next to the submit rate, the common failure reasons) and the trace
of that task (a link to Jaeger's UI, and as a text waterfall; Jaeger keeps traces on disk, so
the links work after the run with `make jaeger`). The verdict covers the API SLA and the
work; any failure exits non-zero. Cancels the work still queued, so its database holds
none, and stops everything it started on exit or Ctrl-C, unless --keep-up.

    make demo                      # short load (profile ci)
    make demo ARGS="--profile full --keep-up"
"""

import argparse
import json
import logging
import signal
import socket
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, astuple, dataclass
from pathlib import Path

import httpx
from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from contract.tasks import TaskStatus
from harness.agents import AgentPool
from harness.core import CoreProcess
from harness.jaeger import SHARED_DATA_DIR, JaegerPorts, JaegerProcess, Trace, waterfall
from harness.k6 import (
    K6Run,
    Target,
    TraceSink,
    backpressure_line,
    load_profiles,
    run_swarm_load_test,
    trace_link_lines,
)
from scripts.load import agent_count
from scripts.work import (
    FINISHED,
    TaskOutcome,
    Work,
    cancel_queued,
    counts_by_status,
    failure_reasons,
    settled_counts,
    work_failures,
)

log = logging.getLogger("showcase")
DEFAULT_OUT = Path.home() / ".cache" / "swarm" / "showcase"
CLIENT_SERVICE = "swarm-client"
CORE_SERVICE = "hypercode-core"
# The services one task's trace must cross for the showcase to count it complete.
TRACE_SERVICES = {CLIENT_SERVICE, CORE_SERVICE, "coder-agent", "coder-tools"}
FINAL = {TaskStatus.succeeded, TaskStatus.failed, TaskStatus.cancelled}
TRACED_CODE = "print('hello from the swarm:', sum(range(10**6)))"
TRACED_OUTPUT = "hello from the swarm: 499999500000\n"


@dataclass
class Outcome:
    """What the run left: the test and the report read it from showcase.json."""

    passed: bool
    failures: list[str]  # why it did not pass; empty when it did
    sla_passed: bool
    traced_task: TaskOutcome
    work: Work
    trace_id: str
    trace_services: list[str]
    trace_url: str
    jaeger_ui: str
    traces_kept_in: str
    replay_command: str
    report_html: str
    summary_json: str


def positive_seconds(text: str) -> float:
    seconds = float(text)
    if not 0 < seconds < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return seconds


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile",
        choices=sorted(load_profiles()),
        default="ci",
        help="k6 load shape: ci (30 s, default), full (10 min 40 s), smoke",
    )
    parser.add_argument(
        "--agents", type=agent_count, default=2, help="coder agent processes (default 2)"
    )
    parser.add_argument(
        "--traced-task-wait",
        type=positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long the traced task may take to be finished by an agent (default 60)",
    )
    parser.add_argument(
        "--keep-up",
        action="store_true",
        help="leave the stack running after the report, until Ctrl-C",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"where reports go (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--scratch-jaeger",
        action="store_true",
        help="Jaeger on free ports with its trace store under --out (tests: nothing shared)",
    )
    return parser.parse_args(argv)  # fmt: skip


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def start_jaeger(stack: ExitStack, out: Path, *, scratch: bool) -> JaegerProcess:
    """Jaeger on its usual ports (UI 16686, OTLP 4317/4318) with the shared trace store, so
    the printed links work afterwards with `make jaeger`. When those ports are taken (a
    Jaeger already runs, and may hold the store) or `scratch` asks for it: free ports and a
    store of this run's own, under `out`.
    """
    usual = JaegerPorts()
    if not scratch and all(map(_port_free, astuple(usual))):
        jaeger = JaegerProcess(out / "jaeger", data_dir=SHARED_DATA_DIR, ports=usual)
    else:
        jaeger = JaegerProcess(out / "jaeger", ports=JaegerPorts.free())
    return stack.enter_context(jaeger)


def replay_command(jaeger: JaegerProcess) -> str:
    """How to serve this run's traces once the showcase has exited."""
    if jaeger.data_dir == SHARED_DATA_DIR:
        return "make jaeger"
    return f".venv/bin/python -m harness.jaeger --data-dir {jaeger.data_dir}"


def client_tracer(jaeger: JaegerProcess) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: CLIENT_SERVICE}))
    exporter = OTLPSpanExporter(endpoint=jaeger.otlp_grpc_endpoint, insecure=True)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def send_traced_task(
    core: CoreProcess, provider: TracerProvider, wait_s: float
) -> tuple[str, TaskOutcome]:
    """Submit one task under a client span and wait up to wait_s until an agent finished it."""
    headers = {"Authorization": f"Bearer {core.keys['client']}"}
    with httpx.Client(base_url=core.base_url, headers=headers, timeout=10) as http:
        tracer = provider.get_tracer("showcase")
        with tracer.start_as_current_span("showcase: submit task"):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            response = http.post(
                "/api/v1/execution/execute",
                json={"kind": "python", "payload": {"code": TRACED_CODE}, "timeout_s": 20},
                headers=carrier,
            )
            response.raise_for_status()
        task = response.json()
        deadline = time.monotonic() + wait_s
        while task["status"] not in FINAL and time.monotonic() < deadline:
            time.sleep(0.2)
            task = http.get(f"/api/v1/execution/{task['id']}").raise_for_status().json()
    provider.force_flush()
    outcome = TaskOutcome(task["id"], task["status"], task["output"], task["error"], TRACED_OUTPUT)
    log.info("traced task %s: %s", task["id"], outcome.describe())
    trace_id: str = task["trace_id"]
    return trace_id, outcome


def run_load(
    args: argparse.Namespace, core: CoreProcess, out: Path, traces: TraceSink
) -> tuple[K6Run, Work]:
    """The k6 swarm load test (its slow and failed requests linked to their traces), and
    what became of the tasks it submitted."""
    headers = {"Authorization": f"Bearer {core.keys['admin']}"}
    with httpx.Client(base_url=core.base_url, headers=headers, timeout=30) as http:
        before = counts_by_status(http)
        started = time.monotonic()
        log.info("running the k6 swarm load test, profile %s", args.profile)
        target = Target.from_role_keys(core.base_url, core.keys)
        k6 = run_swarm_load_test(
            target, out / "k6", profile=args.profile, traces=traces, capture_output=False
        )
        load_s = time.monotonic() - started
        after = counts_by_status(http)
        log.info("cancelling the tasks still queued, waiting for those the agents hold")
        cancelled = cancel_queued(core.base_url, core.keys["admin"])
        # Tasks the agents finish meanwhile count too: one of them may have failed.
        final = settled_counts(http)
        work = Work(
            agents=args.agents,
            counts=after,
            submitted=sum(after.values()) - sum(before.values()),
            finished=sum(after[s] - before[s] for s in FINISHED),
            load_s=load_s,
            failure_reasons=failure_reasons(http),
            cancelled_backlog=cancelled,
            final_counts=final,
        )
    return k6, work


def report(run: K6Run, outcome: Outcome, trace: Trace) -> str:
    sla = "PASSED" if outcome.sla_passed else "FAILED"
    return "\n".join([
        "",
        "=" * 78,
        f"Verdict: {'PASSED' if outcome.passed else 'FAILED'}",
        *(f"  - {failure}" for failure in outcome.failures),
        f"API SLA (p95 < 500 ms, failures < 1 %): {sla} (k6 exit code {run.exit_code})",
        *([backpressure_line(run.summary)] if run.summary else []),
        f"Traced task:       {outcome.traced_task.describe()}",
        *outcome.work.lines(),
        f"Jaeger UI:         {outcome.jaeger_ui}",
        f"One whole trace:   {outcome.trace_url}",
        f"  as JSON:         {outcome.jaeger_ui}/api/traces/{outcome.trace_id}",
        f"  across {', '.join(outcome.trace_services)}:",
        waterfall(trace),
        *(trace_link_lines(run.summary, failed_shown=5) if run.summary else []),
        f"k6 HTML report:    {outcome.report_html}",
        f"k6 JSON summary:   {outcome.summary_json}",
        f"Traces are kept in {outcome.traces_kept_in}: after this run, "
        f"`{outcome.replay_command}` serves them at http://127.0.0.1:{JaegerPorts().query_http}.",
        "=" * 78,
    ])  # fmt: skip


def sla_failures(k6: K6Run) -> list[str]:
    """What of the API SLA k6 found broken; empty when every threshold held."""
    if k6.summary is None:
        return [f"k6 wrote no summary (exit code {k6.exit_code})"]
    broken = [f"{t.metric} {t.expression}" for t in k6.summary.failed_thresholds()]
    if broken or k6.exit_code != 0:
        return [f"API SLA not met: {', '.join(broken) or f'k6 exit code {k6.exit_code}'}"]
    return []


def verdict(k6: K6Run, traced: TaskOutcome, work: Work, trace: Trace) -> list[str]:
    """Everything that failed: the API SLA, the work, the trace; empty when all passed."""
    failures = sla_failures(k6) + work_failures(traced, work)
    missing = TRACE_SERVICES - {span.service for span in trace.spans}
    if traced.ok and missing:  # a task that never ran cannot have reached the agent
        failures.append(f"the traced task's trace lacks {', '.join(sorted(missing))}")
    return failures


def run(args: argparse.Namespace) -> int:
    out = args.out / time.strftime("%Y%m%d-%H%M%S")
    with ExitStack() as stack:
        log.info("starting Jaeger")
        jaeger = start_jaeger(stack, out, scratch=args.scratch_jaeger)
        log.info("starting hypercode-core on SQLite (%s)", out / "core")
        core_env = jaeger.otel_env(CORE_SERVICE, batch_delay_ms=1000)
        core = stack.enter_context(CoreProcess(out / "core", env=core_env))
        log.info("starting %d coder agents", args.agents)
        agent_env = jaeger.otel_env("coder-agent", batch_delay_ms=1000)
        stack.enter_context(
            AgentPool(core.base_url, core.keys["registrar"], out / "agents", args.agents,
                      env=agent_env)
        )  # fmt: skip
        provider = client_tracer(jaeger)
        stack.callback(provider.shutdown)
        trace_id, traced = send_traced_task(core, provider, args.traced_task_wait)
        k6, work = run_load(args, core, out, TraceSink(jaeger.otlp_http_endpoint, jaeger.query_url))
        # A task no agent took has no agent spans to wait for: waiting would only time out.
        expected = (
            TRACE_SERVICES if traced.status != TaskStatus.queued else {CLIENT_SERVICE, CORE_SERVICE}
        )
        trace = jaeger.query.wait_for_trace(
            trace_id, lambda t: {s.service for s in t.spans} >= expected, timeout_s=30
        )
        failures = verdict(k6, traced, work, trace)
        outcome = Outcome(
            passed=not failures,
            failures=failures,
            sla_passed=not sla_failures(k6),
            traced_task=traced,
            work=work,
            trace_id=trace_id,
            trace_services=sorted({span.service for span in trace.spans}),
            trace_url=jaeger.trace_url(trace_id),
            jaeger_ui=jaeger.query_url,
            traces_kept_in=str(jaeger.data_dir),
            replay_command=replay_command(jaeger),
            report_html=str(k6.report_path),
            summary_json=str(k6.summary_path),
        )  # fmt: skip
        (out / "showcase.json").write_text(json.dumps(asdict(outcome), indent=2))
        print(report(k6, outcome, trace))
        if args.keep_up:
            print("The stack stays up; Ctrl-C stops it.")
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0 if outcome.passed else 1


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll is noise here
    # SIGTERM unwinds like Ctrl-C, so every process started is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return run(parse_args(argv))
    except KeyboardInterrupt:
        log.info("interrupted: everything started was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
