"""Run the k6 swarm load test against a local stack (what `make load` runs).

Starts hypercode-core (SQLite in a fresh work directory) and real coder agents, runs
k6/swarm_load_test.js with the chosen profile and leaves summary.json, report.html and the
logs of the core and the agents in the output directory.
With --base-url it tests an already running core instead; the keys then come from
CLIENT_KEY, REGISTRAR_KEY and ADMIN_KEY.

    .venv/bin/python -m scripts.load --profile ci
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
from pathlib import Path

from contract.keys import Role
from harness.agents import AgentPool
from harness.core import CoreProcess
from harness.k6 import K6Error, K6Run, Target, load_profiles, run_swarm_load_test

KEY_VARIABLES: dict[str, str] = {role: f"{role.upper()}_KEY" for role in Role}


def agent_count(text: str) -> int:
    count = int(text)
    if count < 0:
        raise argparse.ArgumentTypeError(f"cannot start {count} agents")
    return count


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    profiles = load_profiles()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile",
        choices=sorted(profiles),
        default=os.environ.get("PROFILE", "full"),
        help="load shape from k6/profiles.json (default: $PROFILE or full): "
        + "; ".join(f"{name}: {profile.description}" for name, profile in profiles.items()),
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="where summary.json, report.html and the logs go (default: a new temp directory)",
    )
    parser.add_argument(
        "--agents",
        type=agent_count,
        default=2,
        help="real coder agents working the queue during the test (default: 2)",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="test this running core instead of starting one (keys from $CLIENT_KEY, "
        "$REGISTRAR_KEY, $ADMIN_KEY)",
    )
    return parser.parse_args(argv)


def target_from_environment(base_url: str) -> Target:
    missing = [variable for variable in KEY_VARIABLES.values() if not os.environ.get(variable)]
    if missing:
        raise K6Error(f"--base-url needs the keys in {', '.join(missing)}")
    keys = {role: os.environ[variable] for role, variable in KEY_VARIABLES.items()}
    return Target.from_role_keys(base_url, keys)


def waited_children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def report_cpu(run: K6Run, core_cpu_s: float, k6_cpu_s: float) -> None:
    """CPU per request does not depend on what else shares the machine, unlike throughput."""
    requests = run.summary.requests.count if run.summary else 0
    per_request = f" = {1000 * core_cpu_s / requests:.2f} ms per request" if requests else ""
    print(f"CPU during the run: core {core_cpu_s:.1f} s{per_request}; k6 {k6_cpu_s:.1f} s")


def run_against_local_stack(out_dir: Path, profile: str, agents: int) -> K6Run:
    with (
        CoreProcess(out_dir / "core") as core,
        AgentPool(core.base_url, core.keys["registrar"], out_dir / "agents", count=agents),
    ):
        print(f"hypercode-core at {core.base_url} with {agents} coder agents, logs in {out_dir}")
        core_before, k6_before = core.cpu_seconds(), waited_children_cpu_seconds()
        target = Target.from_role_keys(core.base_url, core.keys)
        run = run_swarm_load_test(target, out_dir, profile=profile, capture_output=False)
        report_cpu(
            run,
            core.cpu_seconds() - core_before,
            waited_children_cpu_seconds() - k6_before,
        )
        return run


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir: Path = args.out_dir or Path(tempfile.mkdtemp(prefix="swarm-load-"))
    try:
        if args.base_url:
            target = target_from_environment(args.base_url)
            run = run_swarm_load_test(target, out_dir, profile=args.profile, capture_output=False)
        else:
            run = run_against_local_stack(out_dir, args.profile, args.agents)
    except K6Error as error:
        print(f"load: {error}", file=sys.stderr)
        return 2
    print(f"summary: {run.summary_path}\nreport:  {run.report_path}")
    return run.exit_code


if __name__ == "__main__":
    sys.exit(main())
