"""A collector that is down, silent or killed never fails a request or slows it past the SLA.

The core exports spans in a background thread (BatchSpanProcessor): these tests hold it to
that with a real core under concurrent load while its OTLP endpoint misbehaves.
"""

import socket
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from harness.core import CoreProcess
from harness.jaeger import LISTEN_HOST, JaegerProcess
from harness.service import free_port

SLA_P95_S = 0.5
CONCURRENCY = 8
REQUESTS_PER_ROUND = 200
CORE_SERVICE = "hypercode-core"


def core_env(otlp_endpoint: str) -> dict[str, str]:
    return {
        "OTEL_SDK_DISABLED": "false",
        "OTEL_SERVICE_NAME": CORE_SERVICE,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        # Export often, so the outage is hit many times within a short test.
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


def timed_requests(core: CoreProcess, count: int) -> list[tuple[int, float]]:
    """`count` submit-then-read pairs from CONCURRENCY clients: (status, seconds) per request."""
    headers = {"Authorization": f"Bearer {core.keys['client']}"}

    def submit_and_read(http: httpx.Client) -> list[tuple[int, float]]:
        started = time.perf_counter()
        submitted = http.post(
            "/api/v1/execution/execute", json={"kind": "python", "payload": {"code": "1"}}
        )
        submit_s = time.perf_counter() - started
        assert submitted.status_code == 202, submitted.text
        # Tracing really is on in the core: without an incoming traceparent the task
        # still gets the trace id of the core's own server span.
        assert submitted.json()["trace_id"] is not None
        started = time.perf_counter()
        read = http.get(f"/api/v1/execution/{submitted.json()['id']}")
        return [
            (submitted.status_code, submit_s),
            (read.status_code, time.perf_counter() - started),
        ]

    with httpx.Client(base_url=core.base_url, headers=headers, timeout=30) as http, \
            ThreadPoolExecutor(CONCURRENCY) as pool:  # fmt: skip
        pairs = pool.map(lambda _: submit_and_read(http), range(count // 2))
        return [timing for pair in pairs for timing in pair]


def assert_within_sla(timings: list[tuple[int, float]]) -> None:
    statuses = {status for status, _ in timings}
    assert statuses <= {200, 202}, f"failed requests: {statuses}"
    p95 = statistics.quantiles([seconds for _, seconds in timings], n=100)[94]
    assert p95 < SLA_P95_S, f"p95 {p95 * 1000:.0f} ms over the {SLA_P95_S * 1000:.0f} ms SLA"


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word: the worst collector."""
    with socket.socket() as sock:
        sock.bind((LISTEN_HOST, 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def test_refused_collector_port(tmp_path: Path) -> None:
    nobody = f"http://{LISTEN_HOST}:{free_port()}"
    with CoreProcess(tmp_path / "core", env=core_env(nobody)) as core:
        assert_within_sla(timed_requests(core, REQUESTS_PER_ROUND))


def test_silent_collector(tmp_path: Path) -> None:
    with (
        silent_listener() as port,
        CoreProcess(tmp_path / "core", env=core_env(f"http://{LISTEN_HOST}:{port}")) as core,
    ):
        assert_within_sla(timed_requests(core, REQUESTS_PER_ROUND))


@pytest.mark.slow
@pytest.mark.jaeger
def test_jaeger_killed_under_load(tmp_path: Path) -> None:
    with (
        JaegerProcess(tmp_path / "jaeger") as jaeger,
        CoreProcess(tmp_path / "core", env=core_env(jaeger.otlp_grpc_endpoint)) as core,
    ):
        before = timed_requests(core, REQUESTS_PER_ROUND)
        # Spans did reach Jaeger before the kill, so the kill cuts a live export stream.
        deadline = time.monotonic() + 10
        while not jaeger.query.find_traces(CORE_SERVICE, limit=1) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert jaeger.query.find_traces(CORE_SERVICE, limit=1), "no core span reached Jaeger"
        jaeger.kill()
        after = timed_requests(core, REQUESTS_PER_ROUND)
    assert_within_sla(before)
    assert_within_sla(after)


def test_core_stops_promptly_with_spans_stuck_for_a_silent_collector(tmp_path: Path) -> None:
    with silent_listener() as port:
        core = CoreProcess(tmp_path / "core", env=core_env(f"http://{LISTEN_HOST}:{port}"))
        core.start()
        timed_requests(core, 40)
        started = time.monotonic()
        core.stop()
        # Without the bounded final flush this takes 30 s and more (CoreProcess then kills).
        assert time.monotonic() - started < 10
