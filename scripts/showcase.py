"""The showcase: the swarm up on embedded defaults, a k6 swarm load, the traces, a report.

Starts Jaeger (local binary), hypercode-core on SQLite and coder agents, all exporting
traces; sends one traced task through the swarm, runs the k6 swarm load test, then prints
the k6 summary with its SLA verdicts, task counts and the trace of that task (also as a
text waterfall, since the go-install Jaeger build serves no real UI). Stops everything it
started on exit or Ctrl-C, unless --keep-up.

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

from scripts.stack.agents import AgentPool
from scripts.stack.core import CoreProcess
from scripts.stack.jaeger import JaegerPorts, JaegerProcess, Trace, waterfall
from scripts.stack.k6 import K6Run, Target, load_profiles, run_swarm_load_test

log = logging.getLogger("showcase")
DEFAULT_OUT = Path.home() / ".cache" / "swarm" / "showcase"
CLIENT_SERVICE = "swarm-client"
# The services one task's trace must cross for the showcase to count it complete.
TRACE_SERVICES = {CLIENT_SERVICE, "hypercode-core", "coder-agent", "coder-tools"}
FINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class Outcome:
    """What the run left: the test and the report read it from showcase.json."""

    sla_passed: bool
    task_counts: dict[str, int]
    trace_id: str
    trace_services: list[str]
    trace_url: str
    jaeger_ui: str
    report_html: str
    summary_json: str


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile",
        choices=sorted(load_profiles()),
        default="ci",
        help="k6 load shape: ci (30 s, default), full (10 min 40 s), smoke",
    )
    parser.add_argument("--agents", type=int, default=2, help="coder agent processes")
    parser.add_argument(
        "--keep-up",
        action="store_true",
        help="leave the stack running after the report, until Ctrl-C",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"where reports go (default {DEFAULT_OUT})"
    )
    return parser.parse_args(argv)  # fmt: skip


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def preferred_ports() -> JaegerPorts:
    """Jaeger's usual ports (UI 16686, OTLP 4317/4318) when free, so links look familiar."""
    usual = JaegerPorts()
    return usual if all(map(_port_free, astuple(usual))) else JaegerPorts.free()


def client_tracer(jaeger: JaegerProcess) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: CLIENT_SERVICE}))
    exporter = OTLPSpanExporter(endpoint=jaeger.otlp_grpc_endpoint, insecure=True)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def send_traced_task(core: CoreProcess, provider: TracerProvider) -> str:
    """Submit one task under a client span and wait until an agent has finished it."""
    headers = {"Authorization": f"Bearer {core.keys['client']}"}
    with httpx.Client(base_url=core.base_url, headers=headers, timeout=10) as http:
        tracer = provider.get_tracer("showcase")
        with tracer.start_as_current_span("showcase: submit task"):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            code = "import sys; print(f'hello from the swarm, python {sys.version_info[:2]}')"
            response = http.post(
                "/api/v1/execution/execute",
                json={"kind": "python", "payload": {"code": code}, "timeout_s": 20},
                headers=carrier,
            )
            response.raise_for_status()
        task = response.json()
        deadline = time.monotonic() + 60
        while task["status"] not in FINAL and time.monotonic() < deadline:
            time.sleep(0.2)
            task = http.get(f"/api/v1/execution/{task['id']}").raise_for_status().json()
    provider.force_flush()
    log.info("traced task %s: %s, output %r", task["id"], task["status"], task["output"])
    trace_id: str = task["trace_id"]
    return trace_id


def task_counts(core: CoreProcess) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {core.keys['client']}"}
    response = httpx.get(f"{core.base_url}/api/v1/execution/stats", headers=headers, timeout=10)
    counts: dict[str, int] = response.raise_for_status().json()["counts"]
    return counts


def report(run: K6Run, outcome: Outcome, trace: Trace) -> str:
    verdict = "PASSED" if outcome.sla_passed else "FAILED"
    counts = ", ".join(f"{n} {status}" for status, n in outcome.task_counts.items() if n)
    return "\n".join([
        "",
        "=" * 78,
        f"SLA verdict (p95 < 500 ms, failures < 1 %): {verdict} (k6 exit code {run.exit_code})",
        f"Tasks in the core: {counts}",
        f"Jaeger UI:         {outcome.jaeger_ui}",
        f"One whole trace:   {outcome.trace_url}",
        # The go-install Jaeger serves a placeholder UI; its query API is complete.
        f"  as JSON:         {outcome.jaeger_ui}/api/traces/{outcome.trace_id}",
        f"  across {', '.join(outcome.trace_services)}:",
        waterfall(trace),
        f"k6 HTML report:    {outcome.report_html}",
        f"k6 JSON summary:   {outcome.summary_json}",
        "=" * 78,
    ])  # fmt: skip


def run(args: argparse.Namespace) -> int:
    out = args.out / time.strftime("%Y%m%d-%H%M%S")
    with ExitStack() as stack:
        log.info("starting Jaeger")
        jaeger = stack.enter_context(JaegerProcess(out / "jaeger", ports=preferred_ports()))
        log.info("starting hypercode-core on SQLite (%s)", out / "core")
        core_env = jaeger.otel_env("hypercode-core", batch_delay_ms=1000)
        core = stack.enter_context(CoreProcess(out / "core", env=core_env))
        log.info("starting %d coder agents", args.agents)
        agent_env = jaeger.otel_env("coder-agent", batch_delay_ms=1000)
        stack.enter_context(
            AgentPool(core.base_url, core.keys["registrar"], out / "agents", args.agents,
                      env=agent_env)
        )  # fmt: skip
        provider = client_tracer(jaeger)
        stack.callback(provider.shutdown)
        trace_id = send_traced_task(core, provider)

        log.info("running the k6 swarm load test, profile %s", args.profile)
        target = Target.from_role_keys(core.base_url, core.keys)
        k6 = run_swarm_load_test(target, out / "k6", profile=args.profile, capture_output=False)
        trace = jaeger.query.wait_for_trace(
            trace_id, lambda t: {s.service for s in t.spans} >= TRACE_SERVICES, timeout_s=30
        )
        outcome = Outcome(
            sla_passed=k6.exit_code == 0 and k6.summary is not None
            and not k6.summary.failed_thresholds(),
            task_counts=task_counts(core),
            trace_id=trace_id,
            trace_services=sorted({span.service for span in trace.spans}),
            trace_url=jaeger.trace_url(trace_id),
            jaeger_ui=jaeger.query_url,
            report_html=str(k6.report_path),
            summary_json=str(k6.summary_path),
        )  # fmt: skip
        (out / "showcase.json").write_text(json.dumps(asdict(outcome), indent=2))
        print(report(k6, outcome, trace))
        if args.keep_up:
            print("The stack stays up; Ctrl-C stops it.")
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    complete = set(outcome.trace_services) >= TRACE_SERVICES
    return 0 if outcome.sla_passed and complete else 1


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
