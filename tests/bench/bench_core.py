"""hypercode-core on SQLite under the k6 seed mix vs a bare FastAPI hello endpoint, one run.

Both servers are uvicorn with one worker, tracing off; k6 drives 50 VUs closed loop with the
same profile. Rounds alternate the order so drift on a shared machine hits both sides; the
figure that matters is the ratio of medians, core req/s ÷ hello req/s (goal ≥ 0.5). Each
server's own CPU time per request (from /proc, during the k6 run) is reported too: it moves
far less with the machine's load than req/s does (goal for the core: ≤ 0.3 ms).

    .venv/bin/python -m tests.bench.bench_core --rounds 3 --profile ci
"""

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.core import CoreProcess
from harness.k6 import Target, k6_binary, load_profiles, run_swarm_load_test
from harness.service import Command, free_port

log = logging.getLogger(__name__)
HELLO_SCRIPT = Path(__file__).with_name("hello.js")


@dataclass(frozen=True)
class Run:
    server: str
    rate_per_s: float
    p95_ms: float
    failed_rate: float
    cpu_ms_per_request: float  # the server process's own, during the k6 run


def run_hello(profile: str, workdir: Path) -> Run:
    workdir.mkdir(parents=True)
    port = free_port()
    server = Command(
        [sys.executable, "-m", "uvicorn", "tests.bench.hello_app:app", "--port", str(port),
         "--no-access-log", "--log-level", "warning"],
        ready_url=f"http://127.0.0.1:{port}/hello",
    )  # fmt: skip
    with server:
        export = workdir / "hello-summary.json"
        cpu_before = server.cpu_seconds()
        subprocess.run(
            [str(k6_binary()), "run", "--quiet", "--address", "", "--summary-export",
             str(export), str(HELLO_SCRIPT)],
            env={**os.environ, "BASE_URL": f"http://127.0.0.1:{port}", "PROFILE": profile,
                 "K6_NO_USAGE_REPORT": "true"},
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        cpu_used = server.cpu_seconds() - cpu_before
    metrics = json.loads(export.read_text())["metrics"]
    return Run(
        "hello",
        metrics["http_reqs"]["rate"],
        metrics["http_req_duration"]["p(95)"],
        metrics["http_req_failed"]["value"],
        cpu_used * 1000 / metrics["http_reqs"]["count"],
    )


def run_core(
    profile: str, workdir: Path, *, database_url: str | None = None, workers: int = 1
) -> Run:
    """The core (SQLite in workdir unless database_url says otherwise) under the k6 mix."""
    with CoreProcess(workdir / "core", database_url=database_url, workers=workers) as core:
        cpu_before = core.cpu_seconds()
        run = run_swarm_load_test(
            Target.from_role_keys(core.base_url, core.keys), workdir / "k6", profile=profile
        )
        cpu_used = core.cpu_seconds() - cpu_before
    if run.summary is None:
        raise RuntimeError(f"k6 wrote no summary; see {run.log_path}")
    requests = run.summary.requests
    return Run(
        "core",
        requests.rate_per_s,
        run.summary.latency.p95_ms,
        requests.failed / requests.count,
        cpu_used * 1000 / requests.count,
    )


def report(runs: list[Run]) -> str:
    lines = ["| server | req/s | p95 ms | failed | CPU ms/request |", "|---|---|---|---|---|"]
    lines += [
        f"| {r.server} | {r.rate_per_s:.0f} | {r.p95_ms:.1f} | {r.failed_rate:.2%} "
        f"| {r.cpu_ms_per_request:.3f} |"
        for r in runs
    ]

    def median(server: str, figure: Callable[[Run], float]) -> float:
        return statistics.median(figure(r) for r in runs if r.server == server)

    rates = {server: median(server, lambda r: r.rate_per_s) for server in ("hello", "core")}
    cpu = {server: median(server, lambda r: r.cpu_ms_per_request) for server in ("hello", "core")}
    lines.append(f"\ncore ÷ hello (medians of req/s): {rates['core'] / rates['hello']:.2f}")
    lines.append(f"CPU ms per request (medians): core {cpu['core']:.3f}, hello {cpu['hello']:.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=sorted(load_profiles()), default="ci")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    workdir = Path(tempfile.mkdtemp(prefix="bench-core-"))
    runs: list[Run] = []
    for round_ in range(args.rounds):
        order = (run_hello, run_core) if round_ % 2 == 0 else (run_core, run_hello)
        for bench in order:
            runs.append(bench(args.profile, workdir / f"r{round_}-{bench.__name__}"))
            log.info("%s", runs[-1])
    print(report(runs))


if __name__ == "__main__":
    main()
