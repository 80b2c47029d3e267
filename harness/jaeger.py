"""Run a real Jaeger v2 (with its web UI) for tests, benchmarks and the showcase.

`JaegerProcess` starts the binary that scripts/install-jaeger.sh builds and caches, on
free localhost ports, with deploy/jaeger/config.yaml and its trace store in a directory of
the caller's (a test's temp dir; `SHARED_DATA_DIR` for `make jaeger` and the showcase, so
traces outlive the run); it waits until the health check and the query API answer, and
reads traces back through Jaeger's HTTP query API.

    python -m harness.jaeger                  # serve SHARED_DATA_DIR on the standard ports
    python -m harness.jaeger --show TRACE_ID  # print a trace as a text waterfall
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.service import ROOT, Service, free_ports

logger = logging.getLogger(__name__)

INSTALL_SCRIPT = ROOT / "scripts" / "install-jaeger.sh"
DEFAULT_CONFIG = ROOT / "deploy" / "jaeger" / "config.yaml"
LISTEN_HOST = "127.0.0.1"
# Where `make jaeger` and the showcase keep traces, so links printed by a run work afterwards.
SHARED_DATA_DIR = Path.home() / ".cache" / "swarm" / "jaeger" / "data"


class JaegerError(RuntimeError):
    """Jaeger could not be installed, started or queried."""


def install_jaeger() -> Path:
    """Return the cached Jaeger binary, building it first if it is missing (minutes)."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed script of this repository
            [str(INSTALL_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise JaegerError(
            f"installing Jaeger with {INSTALL_SCRIPT} failed ({exc}); it needs Go >= 1.24.6 "
            "and the Go module proxy"
        ) from exc
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class JaegerPorts:
    """The ports Jaeger listens on; by default Jaeger's standard ones."""

    otlp_grpc: int = 4317
    otlp_http: int = 4318
    query_http: int = 16686
    query_grpc: int = 16685
    health: int = 13133

    @classmethod
    def free(cls) -> JaegerPorts:
        return cls(*free_ports(5))

    def as_env(self) -> dict[str, str]:
        """The variables deploy/jaeger/config.yaml reads its ports from."""
        return {
            "JAEGER_OTLP_GRPC_PORT": str(self.otlp_grpc),
            "JAEGER_OTLP_HTTP_PORT": str(self.otlp_http),
            "JAEGER_QUERY_HTTP_PORT": str(self.query_http),
            "JAEGER_QUERY_GRPC_PORT": str(self.query_grpc),
            "JAEGER_HEALTH_PORT": str(self.health),
        }


@dataclass(frozen=True)
class Span:
    """One span as Jaeger stored it, with the fields trace tests look at."""

    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    start_us: int
    duration_us: int
    tags: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Trace:
    trace_id: str
    spans: list[Span]

    def by_service(self, service: str) -> list[Span]:
        return [span for span in self.spans if span.service == service]

    def named(self, name: str) -> list[Span]:
        return [span for span in self.spans if span.name == name]

    def span(self, span_id: str) -> Span:
        return next(span for span in self.spans if span.span_id == span_id)


def _parent_of(raw_span: dict[str, Any]) -> str | None:
    references = raw_span.get("references", [])
    return next((ref["spanID"] for ref in references if ref["refType"] == "CHILD_OF"), None)


def parse_trace(data: dict[str, Any]) -> Trace:
    """Turn one trace of the v1 query API (`/api/traces/...`) into a `Trace`."""
    services = {pid: proc["serviceName"] for pid, proc in data["processes"].items()}
    spans = [
        Span(
            span_id=raw["spanID"],
            parent_span_id=_parent_of(raw),
            name=raw["operationName"],
            service=services[raw["processID"]],
            start_us=raw["startTime"],
            duration_us=raw["duration"],
            tags={tag["key"]: tag["value"] for tag in raw.get("tags", [])},
        )
        for raw in data["spans"]
    ]
    return Trace(trace_id=data["traceID"], spans=spans)


class JaegerQuery:
    """Small client for Jaeger's HTTP query API (v1 JSON: the one the UI itself uses)."""

    def __init__(self, query_url: str) -> None:
        self._http = httpx.Client(base_url=query_url, timeout=5.0)

    def close(self) -> None:
        self._http.close()

    def get_trace(self, trace_id: str) -> Trace | None:
        """The trace with this 32-hex id, or None while Jaeger has no span of it."""
        response = self._http.get(f"/api/traces/{trace_id}")
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        response.raise_for_status()
        traces = response.json()["data"]
        return parse_trace(traces[0]) if traces else None

    def find_traces(self, service: str, *, limit: int = 20, lookback: str = "1h") -> list[Trace]:
        """The newest traces that hold a span of `service`."""
        response = self._http.get(
            "/api/traces", params={"service": service, "limit": limit, "lookback": lookback}
        )
        response.raise_for_status()
        return [parse_trace(data) for data in response.json()["data"] or []]

    def services(self) -> list[str]:
        response = self._http.get("/api/services")
        response.raise_for_status()
        return list(response.json()["data"] or [])

    def wait_for_trace(
        self, trace_id: str, until: Callable[[Trace], bool], *, timeout_s: float = 20.0
    ) -> Trace:
        """Poll until `until(trace)` holds (exporters send in batches) or time runs out.

        Returns the last trace seen either way, so the caller's assertions say what is
        missing; raises only if Jaeger never saw the trace at all.
        """
        deadline = time.monotonic() + timeout_s
        trace = self.get_trace(trace_id)
        while (trace is None or not until(trace)) and time.monotonic() < deadline:
            time.sleep(0.25)
            trace = self.get_trace(trace_id)
        if trace is None:
            raise JaegerError(f"Jaeger has no span of trace {trace_id} after {timeout_s} s")
        return trace


class JaegerProcess(Service):
    """A Jaeger all-in-one process on localhost; a context manager.

    Traces are stored in `data_dir` (default: workdir/data, gone with the test's temp dir).
    Only one Jaeger at a time can open a data dir (Badger locks it).
    """

    stop_timeout_s = 10.0

    def __init__(
        self,
        workdir: Path,
        *,
        data_dir: Path | None = None,
        ports: JaegerPorts | None = None,
        config: Path = DEFAULT_CONFIG,
        binary: Path | None = None,
        ready_timeout_s: float = 30.0,
    ) -> None:
        super().__init__("jaeger", workdir / "jaeger.log")
        self.workdir = workdir
        self.cwd = workdir
        self.data_dir = data_dir or workdir / "data"
        self.ports = ports or JaegerPorts.free()
        self.config = config
        self.binary = binary
        self.ready_timeout_s = ready_timeout_s
        self.query = JaegerQuery(self.query_url)

    @property
    def otlp_grpc_endpoint(self) -> str:
        """For OTEL_EXPORTER_OTLP_ENDPOINT with the gRPC protocol."""
        return f"http://{LISTEN_HOST}:{self.ports.otlp_grpc}"

    @property
    def otlp_http_endpoint(self) -> str:
        return f"http://{LISTEN_HOST}:{self.ports.otlp_http}"

    @property
    def query_url(self) -> str:
        """Query API (and UI) base URL."""
        return f"http://{LISTEN_HOST}:{self.ports.query_http}"

    def trace_url(self, trace_id: str) -> str:
        return f"{self.query_url}/trace/{trace_id}"

    def otel_env(self, service_name: str, *, batch_delay_ms: int = 200) -> dict[str, str]:
        """OTEL_* variables that make an OpenTelemetry SDK process export here.

        Batches leave every `batch_delay_ms` (SDK default 5000) so tests see spans soon.
        """
        return {
            "OTEL_SDK_DISABLED": "false",
            "OTEL_BSP_SCHEDULE_DELAY": str(batch_delay_ms),
            "OTEL_SERVICE_NAME": service_name,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_grpc_endpoint,
            # Plain gRPC is right for a localhost collector; the default (TLS) is not.
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
        }

    def command(self) -> list[str]:
        return [str(self.binary), "--config", str(self.config)]

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.ports.as_env(),
            "JAEGER_LISTEN_HOST": LISTEN_HOST,
            "JAEGER_DATA_DIR": str(self.data_dir),
        }

    def start(self, timeout: float | None = None) -> None:
        self.binary = self.binary or install_jaeger()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        super().start(timeout)
        logger.info("jaeger ready: query %s, otlp %s", self.query_url, self.otlp_grpc_endpoint)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        health_url = f"http://{LISTEN_HOST}:{self.ports.health}/status"
        while time.monotonic() < deadline:
            if not self.running:
                raise JaegerError(self._why_it_exited())
            if self._answers(health_url) and self._answers(f"{self.query_url}/api/services"):
                return
            time.sleep(0.1)
        raise JaegerError(f"jaeger not ready after {timeout} s; see {self.log_path}")

    def _why_it_exited(self) -> str:
        log = self.log_path.read_text() if self.log_path else ""
        if "Another process is using this Badger database" in log:
            return (
                f"jaeger exited at start: another Jaeger uses the trace store {self.data_dir} "
                "(stop it, or give this one a data dir of its own)"
            )
        return f"jaeger exited at start; see {self.log_path}"

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == httpx.codes.OK
        except httpx.HTTPError:
            return False

    def stop(self, timeout: float | None = None) -> int | None:
        code = super().stop(timeout)
        self.query.close()
        return code


def waterfall(trace: Trace) -> str:
    """The trace as indented text, one span a line: what the UI shows, for a terminal."""
    children: dict[str | None, list[Span]] = {}
    known = {span.span_id for span in trace.spans}
    for span in sorted(trace.spans, key=lambda span: span.start_us):
        # A parent that never reached Jaeger: show the span as a root rather than lose it.
        parent = span.parent_span_id if span.parent_span_id in known else None
        children.setdefault(parent, []).append(span)
    start_us = min(span.start_us for span in trace.spans)
    lines = [f"trace {trace.trace_id}"]

    def add(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            lines.append(
                f"{(span.start_us - start_us) / 1000:9.1f} ms {span.duration_us / 1000:9.1f} ms  "
                f"{'  ' * depth}{span.service}: {span.name}"
            )
            add(span.span_id, depth + 1)

    add(None, 0)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Serve Jaeger on its standard ports until Ctrl-C, or print one trace as a waterfall."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--show", metavar="TRACE_ID", help="print this trace and exit")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=SHARED_DATA_DIR,
        help=f"the trace store to serve (default {SHARED_DATA_DIR}, the showcase's)",
    )
    parser.add_argument("--query-url", default=f"http://{LISTEN_HOST}:{JaegerPorts().query_http}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per readiness poll otherwise
    if args.show:
        query = JaegerQuery(args.query_url)
        trace = query.get_trace(args.show)
        query.close()
        if trace is None:
            raise SystemExit(f"no trace {args.show} in the Jaeger at {args.query_url}")
        sys.stdout.write(waterfall(trace) + "\n")
        return
    workdir = Path(tempfile.mkdtemp(prefix="swarm-jaeger-"))
    # SIGTERM (a supervisor, `timeout`) leaves through the `with` too, so Jaeger stops.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with JaegerProcess(workdir, data_dir=args.data_dir, ports=JaegerPorts()) as jaeger:
        logger.info(
            "Jaeger UI and query API %s, OTLP gRPC %s, traces in %s (Ctrl-C stops)",
            jaeger.query_url,
            jaeger.otlp_grpc_endpoint,
            jaeger.data_dir,
        )
        try:
            signal.pause()
        except KeyboardInterrupt:
            logger.info("stopping jaeger")


if __name__ == "__main__":
    main()
