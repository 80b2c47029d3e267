"""Tracing on (exporting to a real Jaeger) vs off, under the k6 seed mix, in one run.

Each round starts a fresh core per configuration and runs k6/swarm_load_test.js against it
(70 % submit / 20 % status / 10 % agent churn); the order of the configurations alternates
from round to round so drift on a shared machine hits both sides. Besides k6's throughput
and p95 it records the core's own CPU time per request, which noise from other processes
on the machine disturbs far less than throughput.

    .venv/bin/python -m tests.bench.bench_tracing --rounds 3 --profile ci [--sampled-ratio 0.1]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.core import CoreProcess
from harness.jaeger import JaegerProcess
from harness.k6 import Target, load_profiles, run_swarm_load_test

logger = logging.getLogger(__name__)
CORE_SERVICE = "hypercode-core"


@dataclass(frozen=True)
class Config:
    name: str
    env: dict[str, str]
    exports: bool  # spans must reach Jaeger, or the run measured nothing


@dataclass(frozen=True)
class RunResult:
    config: str
    round: int
    requests: int
    rate_per_s: float
    p95_ms: float
    failed: int
    core_cpu_ms_per_request: float
    traces_in_jaeger: bool


def configs(jaeger: JaegerProcess, ratio: float | None) -> list[Config]:
    """Off, and on with the production batch export (SDK default 5 s schedule)."""
    on_env = jaeger.otel_env(CORE_SERVICE, batch_delay_ms=5000)
    chosen = [
        Config("off", {"OTEL_SDK_DISABLED": "true"}, exports=False),
        Config("on", on_env, exports=True),
    ]
    if ratio is not None:
        sampled = {
            **on_env,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(ratio),
        }
        chosen.append(Config(f"on, sampled {ratio:g}", sampled, exports=True))
    return chosen


def run_once(
    config: Config, round_: int, profile: str, jaeger: JaegerProcess, workdir: Path
) -> RunResult:
    run_name = f"round{round_}-{config.name.replace(' ', '_').replace(',', '')}"
    run_dir = workdir / run_name
    # A service name of its own per run, so "spans reached Jaeger" is checked per run.
    service = f"{CORE_SERVICE}-{run_name}"
    with CoreProcess(run_dir / "core", env={**config.env, "OTEL_SERVICE_NAME": service}) as core:
        cpu_before = core.cpu_seconds()
        run = run_swarm_load_test(
            Target.from_role_keys(core.base_url, core.keys), run_dir / "k6", profile=profile
        )
        cpu_used = core.cpu_seconds() - cpu_before
    if run.summary is None:
        raise RuntimeError(f"k6 wrote no summary; see {run.log_path}")
    summary = run.summary
    return RunResult(
        config=config.name,
        round=round_,
        requests=summary.requests.count,
        rate_per_s=summary.requests.rate_per_s,
        p95_ms=summary.latency.p95_ms,
        failed=summary.requests.failed,
        core_cpu_ms_per_request=1000 * cpu_used / max(summary.requests.count, 1),
        traces_in_jaeger=bool(jaeger.query.find_traces(service, limit=1, lookback="5m")),
    )


def report(results: list[RunResult], baseline: str) -> str:
    """Markdown: every run, then each config against the baseline.

    Ratios are taken per round (each run against the baseline run next to it in time) and
    then the median over rounds: on a shared machine that cancels most of the drift.
    """
    lines = [
        "| round | config | requests | req/s | p95 ms | failed | core CPU ms/req |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.round} | {r.config} | {r.requests} | {r.rate_per_s:.0f} | {r.p95_ms:.1f} "
        f"| {r.failed} | {r.core_cpu_ms_per_request:.3f} |"
        for r in results
    ]
    base = {r.round: r for r in results if r.config == baseline}
    lines += [
        "",
        "| config | median req/s | req/s vs off | p95 diff ms | CPU ms/req | CPU diff ms/req |",
        "|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r.config for r in results):
        runs = [r for r in results if r.config == name]
        rate_ratio = statistics.median(r.rate_per_s / base[r.round].rate_per_s for r in runs)
        p95_diff = statistics.median(r.p95_ms - base[r.round].p95_ms for r in runs)
        cpu = statistics.median(r.core_cpu_ms_per_request for r in runs)
        cpu_diff = statistics.median(
            r.core_cpu_ms_per_request - base[r.round].core_cpu_ms_per_request for r in runs
        )
        lines.append(
            f"| {name} | {statistics.median(r.rate_per_s for r in runs):.0f} "
            f"| {rate_ratio:.2f} | {p95_diff:+.1f} | {cpu:.3f} | {cpu_diff:+.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=sorted(load_profiles()), default="ci")
    parser.add_argument(
        "--sampled-ratio",
        type=float,
        default=None,
        help="also run with OTEL_TRACES_SAMPLER=parentbased_traceidratio at this ratio",
    )
    parser.add_argument("--json", type=Path, help="also write every run as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Jaeger query otherwise

    workdir = Path(tempfile.mkdtemp(prefix="bench-tracing-"))
    results: list[RunResult] = []
    with JaegerProcess(workdir / "jaeger") as jaeger:
        chosen = configs(jaeger, args.sampled_ratio)
        for round_ in range(1, args.rounds + 1):
            # Alternate the order so a machine getting busier or quieter favours no side.
            for config in chosen if round_ % 2 else reversed(chosen):
                result = run_once(config, round_, args.profile, jaeger, workdir)
                logger.info("%s", result)
                if config.exports and not result.traces_in_jaeger:
                    raise RuntimeError(f"{config.name}: no core span reached Jaeger")
                results.append(result)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    sys.stdout.write(report(results, baseline="off") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
