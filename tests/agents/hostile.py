"""Hostile programs and what the sandbox must make of them; shared by the sandbox and e2e tests."""

from collections.abc import Callable
from dataclasses import dataclass

from agents.coder.sandbox import RunResult
from harness.service import ROOT

OUTPUT_CAP = 64 * 1024
TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Hostile:
    name: str
    code: str
    check: Callable[[RunResult], None]


def _timed_out(run: RunResult) -> None:
    assert run.timed_out and run.exit_code is None
    assert run.duration_s < TIMEOUT_S + 3


def _memory_refused(run: RunResult) -> None:
    assert run.exit_code not in (0, None) and "MemoryError" in run.stderr


def _fork_limited(run: RunResult) -> None:
    # Either the process limit stops it (BlockingIOError) or the wall clock does.
    assert run.exit_code != 0
    assert run.timed_out or "Resource temporarily unavailable" in run.stderr


def _printed(expected: str) -> Callable[[RunResult], None]:
    def check(run: RunResult) -> None:
        assert run.exit_code == 0, run.stderr
        assert run.stdout.split() == expected.split(), run.stdout

    return check


def _truncated(run: RunResult) -> None:
    assert run.truncated
    assert len(run.stdout.encode()) <= OUTPUT_CAP
    assert set(run.stdout) == {"x"}


def network_case(port: int) -> Hostile:
    """Connecting to a port that listens on the host must fail: the sandbox has no network."""
    code = f"""
import socket
for host in ("127.0.0.1", "10.0.0.1", "1.1.1.1"):
    try:
        socket.create_connection((host, {port}), timeout=1)
        print("connected", host)
    except OSError:
        print("blocked")
"""
    return Hostile("network socket", code, _printed("blocked blocked blocked"))


AGENT_FILE = ROOT / "agents" / "coder" / "main.py"
OUTSIDE_TARGETS = ["/outside.txt", "/usr/outside.txt", f"{ROOT}/outside.txt", "/root/outside.txt"]

HOSTILE = [
    Hostile("infinite loop", "while True:\n    pass\n", _timed_out),
    # bytes(n) reserves without touching, so the address-space limit, not page faults, ends it.
    Hostile(
        "memory bomb",
        "blocks = []\nwhile True:\n    blocks.append(bytes(1 << 26))\n",
        _memory_refused,
    ),
    Hostile("one huge allocation", "block = bytearray(4 << 30)\n", _memory_refused),
    Hostile("fork bomb", "import os\nwhile True:\n    os.fork()\n", _fork_limited),
    Hostile(
        "reading the agent's files",
        f"""
import os
try:
    print(open({str(AGENT_FILE)!r}).read()[:10])
except OSError:
    print("hidden")
print("no-secrets" if not any(k.startswith(("HYPERCODE", "OTEL")) for k in os.environ) else "leak")
print("alone" if len([p for p in os.listdir("/proc") if p.isdigit()]) <= 3 else "crowd")
""",
        _printed("hidden no-secrets alone"),
    ),
    Hostile(
        "writing outside the temp dir",
        f"""
for path in {OUTSIDE_TARGETS!r}:
    try:
        open(path, "w").write("x")
        print("wrote", path)
    except OSError:
        print("refused")
open("inside.txt", "w").write("ok")
print(open("inside.txt").read())
""",
        _printed("refused refused refused refused ok"),
    ),
    Hostile(
        "huge output",
        "import sys\nfor _ in range(20000):\n    sys.stdout.write('x' * 1000)\n",
        _truncated,
    ),
]
