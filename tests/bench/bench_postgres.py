"""hypercode-core on PostgreSQL, one replica and two behind the same database, beside SQLite.

Same k6 seed mix and profile as bench_core. Two replicas are two core processes sharing one
listening socket (uvicorn --workers 2: the kernel spreads the connections), as two replicas
behind a load balancer would share the work; both lease from the same PostgreSQL with
`FOR UPDATE SKIP LOCKED`. PostgreSQL runs with fsync on, so a 202 means what it means in
production. Rounds alternate the order; the figures that matter are ratios within a round.

    .venv/bin/python -m tests.bench.bench_postgres --rounds 3 --profile ci
"""

import argparse
import logging
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.k6 import load_profiles
from harness.postgres import PostgresProcess
from tests.bench.bench_core import Run, run_core

log = logging.getLogger(__name__)


def setups(postgres: PostgresProcess) -> dict[str, Callable[[str, Path], Run]]:
    """Each setup on a fresh database of its own."""
    return {
        "sqlite, 1 replica": lambda profile, workdir: run_core(profile, workdir),
        "postgres, 1 replica": lambda profile, workdir: run_core(
            profile, workdir, database_url=postgres.create_database()
        ),
        "postgres, 2 replicas": lambda profile, workdir: run_core(
            profile, workdir, database_url=postgres.create_database(), workers=2
        ),
    }


def report(runs: list[tuple[int, str, Run]]) -> str:
    lines = ["| round | setup | req/s | p95 ms | failed |", "|---|---|---|---|---|"]
    lines += [
        f"| {round_} | {name} | {run.rate_per_s:.0f} | {run.p95_ms:.1f} | {run.failed_rate:.2%} |"
        for round_, name, run in runs
    ]
    rate = {(round_, name): run.rate_per_s for round_, name, run in runs}
    rounds = sorted({round_ for round_, _, _ in runs})

    def ratio(top: str, bottom: str) -> float:
        return statistics.median(rate[r, top] / rate[r, bottom] for r in rounds)

    lines += [
        "",
        f"postgres 2 replicas ÷ 1 (median of per-round ratios): "
        f"{ratio('postgres, 2 replicas', 'postgres, 1 replica'):.2f}",
        f"postgres 1 replica ÷ sqlite: {ratio('postgres, 1 replica', 'sqlite, 1 replica'):.2f}",
    ]
    return "\n".join(lines)


def measure(rounds: int, profile: str, workdir: Path) -> list[tuple[int, str, Run]]:
    runs: list[tuple[int, str, Run]] = []
    with PostgresProcess(fsync=True) as postgres:
        chosen = setups(postgres)
        for round_ in range(1, rounds + 1):
            names = list(chosen) if round_ % 2 else list(reversed(chosen))
            for name in names:
                run = chosen[name](profile, workdir / f"r{round_}-{name.replace(' ', '')}")
                log.info("round %d, %s: %s", round_, name, run)
                runs.append((round_, name, run))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=sorted(load_profiles()), default="ci")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    workdir = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
    print(report(measure(args.rounds, args.profile, workdir)))


if __name__ == "__main__":
    main()
