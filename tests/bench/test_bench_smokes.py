"""The core, PostgreSQL, tracing, queue-cap and request-CPU benchmarks still run end to end:
one short round each (the k6 ones on the smoke profile), every figure measured, no speed
asserted (the figures themselves: docs/benchmarks.md).
"""

import asyncio
from pathlib import Path

import pytest

from harness.jaeger import JaegerProcess
from tests.bench import (
    bench_core,
    bench_postgres,
    bench_queue_cap,
    bench_request_cpu,
    bench_tracing,
)

pytestmark = pytest.mark.slow


def test_one_round_of_the_core_benchmark_measures_both_servers(tmp_path: Path) -> None:
    runs = [
        bench_core.run_hello("smoke", tmp_path / "hello"),
        bench_core.run_core("smoke", tmp_path / "core"),
    ]
    for run in runs:
        assert run.rate_per_s > 0 and run.p95_ms > 0 and run.cpu_ms_per_request > 0, run
        assert run.failed_rate == 0, run
    report = bench_core.report(runs)
    assert "core ÷ hello (medians of req/s): " in report
    assert "CPU ms per request (medians): core " in report


def test_one_round_of_the_tracing_benchmark_sees_spans_only_when_tracing_is_on(
    tmp_path: Path,
) -> None:
    with JaegerProcess(tmp_path / "jaeger") as jaeger:
        off, on = bench_tracing.configs(jaeger, ratio=None)
        results = [
            bench_tracing.run_once(config, 1, "smoke", jaeger, tmp_path) for config in (off, on)
        ]
    assert [result.traces_in_jaeger for result in results] == [False, True]
    for result in results:
        assert result.requests > 0 and result.failed == 0, result
        assert result.core_cpu_ms_per_request > 0, result
    assert "| on | " in bench_tracing.report(results, baseline="off")


def test_one_round_of_the_queue_cap_benchmark_times_every_case(tmp_path: Path) -> None:
    figures = asyncio.run(bench_queue_cap.measure(cap=10, both=True, submits=20, workdir=tmp_path))
    assert set(figures) == {"uncapped", "accepted", "refused"}
    assert all(microseconds > 0 for microseconds in figures.values()), figures


def test_one_round_of_the_postgres_benchmark_measures_every_setup(tmp_path: Path) -> None:
    runs = bench_postgres.measure(rounds=1, profile="smoke", workdir=tmp_path)
    assert [name for _, name, _ in runs] == [
        "sqlite, 1 replica",
        "postgres, 1 replica",
        "postgres, 2 replicas",
    ]
    for _, name, run in runs:
        assert run.rate_per_s > 0 and run.failed_rate == 0, (name, run)
    assert "postgres 2 replicas ÷ 1 (median of per-round ratios): " in bench_postgres.report(runs)


def test_one_round_of_the_request_cpu_benchmark_times_every_route(tmp_path: Path) -> None:
    # Every timed request must have been answered 2xx, or measure() raises.
    [figures] = asyncio.run(bench_request_cpu.measure(rounds=1, requests=50, workdir=tmp_path))
    assert set(figures) == {
        "core submit", "core status", "floor submit", "floor status", "floor hello",
    }  # fmt: skip
    assert all(ms > 0 for ms in figures.values()), figures
    assert "| submit | " in bench_request_cpu.report([figures])
