"""`make workflow EVENT=push|pull_request`: run .github/workflows/swarm-pipeline.yml with act.

    .venv/bin/python -m scripts.workflow --event pull_request
    .venv/bin/python -m scripts.workflow --event push -- --job load-test   # extra act flags

Needs the Dagger engine of `make dagger-up` (or a Dagger install); installs act and the
actions itself (cached in ~/.cache/swarm). Exits with act's exit code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scripts.workflow.install import InstallError
from scripts.workflow.run import EVENTS, WorkflowError, new_run_dir, run_workflow


def progress(line: str) -> None:
    print(f"workflow: {line}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--event", choices=EVENTS, default="pull_request")
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="where act.log, the event, the artifacts and results.json go "
        "(default: var/workflow/EVENT-TIME)",
    )
    parser.add_argument("act_args", nargs="*", help="extra act flags, after --")
    args = parser.parse_args(argv)
    run_dir = args.run_dir or new_run_dir(args.event)
    try:
        run = run_workflow(args.event, run_dir, progress, args.act_args)
    except (InstallError, WorkflowError) as error:
        progress(str(error))
        return 2
    print(run.summary())
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
