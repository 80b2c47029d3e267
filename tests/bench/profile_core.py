"""Where hypercode-core's CPU goes under the k6 swarm mix: py-spy samples one core process.

Starts a core (SQLite, one worker, tracing off), runs k6 with the chosen profile against it
and records the core with py-spy meanwhile. Prints the frames with the largest inclusive and
self shares and leaves the folded stacks (flame-graph input) in the output directory.
Shares, not timings: they hold on a busy machine too (docs/benchmarks.md, "Profile").

    .venv/bin/python -m tests.bench.profile_core --profile ci --seconds 40
"""

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

from harness.core import CoreProcess
from harness.k6 import Target, run_swarm_load_test
from harness.service import Command

PY_SPY = Path(sys.executable).with_name("py-spy")


def frame_name(frame: str) -> str:
    """`func (path/to/module.py:12)` → `func (module.py)`: one entry per function."""
    function, _, where = frame.partition(" (")
    return f"{function} ({where.split(':')[0].rsplit('/', 1)[-1]})" if where else function


def shares(folded: Path) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    """Samples in all, and per function: samples with it on the stack, samples in it."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [frame_name(frame) for frame in stack.split(";")]
        total += int(count)
        inclusive.update(dict.fromkeys(frames, int(count)))
        own[frames[-1]] += int(count)
    return total, inclusive, own


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci", help="k6 profile (k6/profiles.json)")
    parser.add_argument("--seconds", type=int, default=40, help="how long py-spy samples")
    parser.add_argument("--top", type=int, default=30, help="functions listed per table")
    args = parser.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="profile-core-"))
    folded = out / "core.folded"
    with CoreProcess(out / "core") as core:
        assert core.pid is not None
        spy = Command(
            [PY_SPY, "record", "--pid", str(core.pid), "--format", "raw", "--rate", "200",
             "--duration", str(args.seconds), "--nonblocking", "--output", str(folded)],
            log_path=out / "py-spy.log",
        )  # fmt: skip
        with spy:
            time.sleep(1)  # py-spy attaches before the load starts
            target = Target.from_role_keys(core.base_url, core.keys)
            run = run_swarm_load_test(target, out / "k6", profile=args.profile)
            spy.wait(timeout=args.seconds + 60)
    total, inclusive, own = shares(folded)
    requests = run.summary.requests.count if run.summary else 0
    print(f"{total} samples at 200 Hz; k6 sent {requests} requests; folded stacks: {folded}")
    # The server's own frames (runpy, uvicorn, middleware) are on nearly every stack.
    below_the_server = collections.Counter(
        {name: count for name, count in inclusive.items() if count < 0.75 * total}
    )
    for title, counts in (("inclusive (below the server loop)", below_the_server), ("self", own)):
        print(f"--- {title}")
        for name, count in counts.most_common(args.top):
            print(f"{100 * count / total:5.1f} %  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
