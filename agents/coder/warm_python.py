"""run_python with its sandbox started before the task comes.

Most of a trivial task's time is starting the sandbox: bwrap's namespaces and mounts, the
run's uid and cgroup, the interpreter. None of that depends on the task, so a spare sandbox
is started ahead and waits, with every limit already in force, for its program on stdin; a
task takes the spare and the next one starts while the task runs. Each task still gets a
fresh sandbox of its own, used once and thrown away: only the moment it starts changes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys

from agents.coder.sandbox import JOB_DIR, RunResult, Sandbox, StartedRun
from contract.tasks import MAX_TIMEOUT_S

logger = logging.getLogger(__name__)

# How many run_python sandboxes the tool server keeps started ahead: the agent sets one per
# task slot, so concurrent tasks each find one.
PYTHON_SPARES_ENV = "CODER_TOOLS_PYTHON_SPARES"

# The biggest timeout a tool takes, plus a second; each job lowers it to its own.
MAX_CPU_S = math.ceil(MAX_TIMEOUT_S) + 1
MAIN_PY = str(JOB_DIR / "main.py")

# Runs inside the sandbox before the task is known. It reads "<cpu_s> <size>\n" and then size
# bytes of program from fd 0, byte-exact so that the task's own stdin that follows stays
# unread; lowers the CPU limit to the task's; writes main.py and runs it as a fresh __main__
# like `python -I main.py` does, a traceback starting at the task's own frames. Only builtin
# modules: importing more would cost every task more CPU than the cold start it replaces.
LAUNCHER = f"""
import os, resource, sys

def read_exactly(size):
    data = b""
    while len(data) < size:
        chunk = os.read(0, size - len(data))
        if not chunk:
            raise SystemExit("sandbox: no program came")
        data += chunk
    return data

header = b""
while not header.endswith(b"\\n"):
    header += read_exactly(1)
cpu_s, size = map(int, header.split())
resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
program = read_exactly(size)
with open({MAIN_PY!r}, "wb") as main_py:
    main_py.write(program)
main = type(sys)("__main__")
main.__file__ = {MAIN_PY!r}
main.__builtins__ = __builtins__
sys.modules["__main__"] = main
sys.argv = ["main.py"]
try:
    exec(compile(program, {MAIN_PY!r}, "exec"), main.__dict__)
except SystemExit:
    raise
except BaseException as error:
    frames = error.__traceback__
    while frames is not None and frames.tb_frame.f_code.co_filename != {MAIN_PY!r}:
        frames = frames.tb_next
    sys.excepthook(type(error), error.with_traceback(frames), frames)
    sys.exit(1)
"""


class WarmPython:
    """Runs Python programs, each in a fresh sandbox that was started before it was needed."""

    def __init__(self, sandbox: Sandbox, spares: int = 1) -> None:
        self._sandbox = sandbox
        self._spares = spares
        self._ready: list[StartedRun] = []
        self._starting: set[asyncio.Task[None]] = set()

    async def run(self, code: str, stdin: str, timeout_s: float) -> RunResult:
        """Run code as main.py with stdin, like `python -I main.py` in a cold sandbox."""
        started = await self._take()
        program = code.encode()
        header = f"{math.ceil(timeout_s) + 1} {len(program)}\n".encode()
        return await started.finish(header + program + stdin.encode(), timeout_s)

    async def aclose(self) -> None:
        for task in self._starting:
            task.cancel()
        await asyncio.gather(*self._starting, return_exceptions=True)
        for started in self._ready:
            await started.discard()
        self._ready.clear()

    async def _take(self) -> StartedRun:
        started = None
        while self._ready and started is None:
            spare = self._ready.pop()
            if spare.alive:
                started = spare
            else:  # killed from outside while it waited: never hand that out
                await spare.discard()
        self.refill()
        return started or await self._start()

    def refill(self) -> None:
        """Start spares until `spares` are ready or starting."""
        while len(self._ready) + len(self._starting) < self._spares:
            task = asyncio.create_task(self._start_spare())
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    async def _start_spare(self) -> None:
        try:
            self._ready.append(await self._start())
        except (OSError, RuntimeError) as error:
            # Not the task's failure: the next task starts its own sandbox and says why.
            logger.warning("could not start a spare sandbox: %s", error)

    async def _start(self) -> StartedRun:
        return await self._sandbox.start([sys.executable, "-I", "-c", LAUNCHER], cpu_s=MAX_CPU_S)
