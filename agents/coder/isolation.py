"""Keep sandboxed runs apart: a uid and a cgroup of its own for every run.

Limits the kernel counts per uid (RLIMIT_NPROC) or per process (RLIMIT_AS) cannot give one run
its own budget when every run shares one uid: a fork bomb in one run used up the shared
process count and stopped every other run from starting processes, and three processes of one
run could each stay under a per-process memory cap. So each run gets:

- a uid of its own, from `RUN_UIDS`, taken with an exclusive `flock` on a file per uid, so two
  tool servers on one machine never hand out the same uid at once (needs root);
- a cgroup of its own (v1 `memory` + `pids` hierarchies, or v2 with both controllers) under
  this process's own cgroup, capping the memory and the number of tasks of the whole run.

Where the machine allows neither, runs still work with the per-process limits alone, and
`RunIsolation.describe` says so (the tool server logs it at startup).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import itertools
import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

# Far above the uids and subordinate-id ranges (100000 + 65536·n) that Debian's useradd hands
# out, so these own nothing on the host; one per concurrent run on the machine.
RUN_UIDS = range(1_800_000_000, 1_800_000_000 + 4096)
UID_LOCK_DIR = Path("/run/hypercode-sandbox/uids")
CGROUP_DIR_NAME = "hypercode-sandbox"
CGROUP_CONTROLLERS = ("memory", "pids")
# A run's cgroup can only be removed once the kernel has reaped its last process.
CGROUP_REMOVE_TIMEOUT_S = 5.0


class UidPool:
    """Machine-wide unique uids for concurrent runs: an exclusive flock per uid."""

    def __init__(self, uids: range = RUN_UIDS, lock_dir: Path = UID_LOCK_DIR) -> None:
        self._uids = uids
        self._lock_dir = lock_dir
        lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Start each process at its own place in the range, so tool servers rarely collide.
        self._next = itertools.cycle(range(len(uids)))
        for _ in range(os.getpid() * 64 % len(uids)):
            next(self._next)

    @contextlib.contextmanager
    def take(self) -> Iterator[int]:
        """Hold a uid no other run on this machine holds, until the with-block ends."""
        for _ in range(len(self._uids)):
            uid = self._uids[next(self._next)]
            fd = os.open(self._lock_dir / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield uid
            finally:
                os.close(fd)  # closing releases the lock
            return
        raise RuntimeError(f"all {len(self._uids)} sandbox uids are in use")


@dataclass(frozen=True)
class RunCgroup:
    """One run's cgroup: its directory per controller (on v2 both are the same directory)."""

    dirs: dict[str, Path]
    version: int

    @property
    def paths(self) -> list[Path]:
        return list(dict.fromkeys(self.dirs.values()))

    def add(self, pid: int) -> None:
        """Move a process into the run's cgroup; everything it starts later stays there."""
        for path in self.paths:
            (path / "cgroup.procs").write_text(str(pid))

    def oom_kills(self) -> int:
        """How many of the run's processes the kernel killed for the run's memory cap."""
        events = "memory.oom_control" if self.version == 1 else "memory.events"
        return _counter(self.dirs["memory"] / events, "oom_kill")

    def process_limit_hits(self) -> int:
        """How many times a fork failed on the run's task cap."""
        return _counter(self.dirs["pids"] / "pids.events", "max")

    async def remove(self) -> None:
        """Kill whatever is left in the run, then remove its directories."""
        deadline = asyncio.get_running_loop().time() + CGROUP_REMOVE_TIMEOUT_S
        for path in self.paths:
            # Reaping takes from microseconds to tens of milliseconds on a busy machine:
            # look again soon, then less and less often.
            delay = 0.002
            while True:
                _kill_all(path)
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    if error.errno != errno.EBUSY or asyncio.get_running_loop().time() > deadline:
                        logger.warning("left cgroup %s behind: %s", path, error)
                        break
                await asyncio.sleep(delay)
                delay = min(2 * delay, 0.1)


@dataclass(frozen=True)
class CgroupParent:
    """Where this process may make per-run cgroups, and how to cap them."""

    version: int
    # v1: controller -> this process's cgroup dir in that hierarchy; v2: "" -> its cgroup dir.
    own_dirs: dict[str, Path]

    def create(self, name: str, memory_bytes: int, tasks: int) -> RunCgroup:
        """A new run cgroup with both caps set (reused if a crashed run left it behind)."""
        if self.version == 2:
            path = self.own_dirs[""] / CGROUP_DIR_NAME / name
            path.mkdir(parents=True, exist_ok=True)
            _write(path / "memory.max", memory_bytes)
            _write_if_present(path / "memory.swap.max", 0)
            _write(path / "memory.oom.group", 1)  # one OOM kill ends the whole run
            _write(path / "pids.max", tasks)
            return RunCgroup({"memory": path, "pids": path}, 2)
        memory = self.own_dirs["memory"] / CGROUP_DIR_NAME / name
        pids = self.own_dirs["pids"] / CGROUP_DIR_NAME / name
        for path in (memory, pids):
            path.mkdir(parents=True, exist_ok=True)
        _write(memory / "memory.limit_in_bytes", memory_bytes)
        # Only where swap is accounted; it must not be below the memory limit, so it comes second.
        _write_if_present(memory / "memory.memsw.limit_in_bytes", memory_bytes)
        _write(pids / "pids.max", tasks)
        return RunCgroup({"memory": memory, "pids": pids}, 1)

    @property
    def where(self) -> str:
        return ", ".join(str(path / CGROUP_DIR_NAME) for path in self.own_dirs.values())


def find_cgroup_parent() -> tuple[CgroupParent | None, str]:
    """The cgroup hierarchy this machine gives us for memory and pids, or why there is none."""
    mounts = _cgroup_mounts()
    own = _own_cgroups()
    v1 = {name: mounts[name] for name in CGROUP_CONTROLLERS if name in mounts}
    if len(v1) == len(CGROUP_CONTROLLERS):
        dirs = {name: v1[name] / own[name].lstrip("/") for name in CGROUP_CONTROLLERS}
        return _usable(CgroupParent(1, dirs))
    if v1:
        return None, f"only {sorted(v1)} of {list(CGROUP_CONTROLLERS)} are on cgroup v1"
    if "" not in mounts:
        return None, "no cgroup filesystem mounted"
    own_dir = mounts[""] / own.get("", "/").lstrip("/")
    available = set((own_dir / "cgroup.controllers").read_text().split())
    if missing := set(CGROUP_CONTROLLERS) - available:
        return None, f"cgroup v2 without the {sorted(missing)} controller(s) here"
    return _usable(CgroupParent(2, {"": own_dir}))


def _usable(parent: CgroupParent) -> tuple[CgroupParent | None, str]:
    """Prove the parent works by making, capping and removing one cgroup."""
    try:
        probe = parent.create(f"probe-{os.getpid()}", 1 << 30, 64)
        for path in probe.paths:
            path.rmdir()
    except OSError as error:
        return None, f"cannot make cgroups under {parent.where}: {error}"
    return parent, ""


def _cgroup_mounts() -> dict[str, Path]:
    """Mount point per v1 controller, and of the v2 hierarchy under the key ""."""
    mounts: dict[str, Path] = {}
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mount_point, fs_type, options, *_ = line.split()
        if fs_type == "cgroup2":
            mounts.setdefault("", Path(mount_point))
        elif fs_type == "cgroup":
            for option in options.split(","):
                if option in CGROUP_CONTROLLERS:
                    mounts[option] = Path(mount_point)
    return mounts


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and in v2 under the key ""."""
    own: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            own[controller] = path
    return own


def _counter(path: Path, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    return 0


def _kill_all(path: Path) -> None:
    with contextlib.suppress(OSError):
        for pid in (path / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def _write(path: Path, value: int) -> None:
    path.write_text(str(value))


def _write_if_present(path: Path, value: int) -> None:
    if path.exists():
        _write(path, value)


@dataclass
class RunIsolation:
    """What keeps one run from touching another's budget on this machine."""

    uids: UidPool | None
    cgroups: CgroupParent | None
    why_no_uids: str = ""
    why_no_cgroups: str = ""
    _runs: Iterator[int] = field(default_factory=itertools.count)

    @classmethod
    def detect(cls) -> RunIsolation:
        if os.geteuid() != 0:
            uids, why_no_uids = None, "not root: every run has this user's uid"
        else:
            uids, why_no_uids = UidPool(), ""
        cgroups, why_no_cgroups = find_cgroup_parent()
        return cls(uids, cgroups, why_no_uids, why_no_cgroups)

    def describe(self) -> str:
        """One line for the startup log: how runs are kept apart here, and what is missing."""
        parts = [
            f"per-run uids {RUN_UIDS.start}-{RUN_UIDS.stop - 1}"
            if self.uids
            else f"no per-run uids ({self.why_no_uids})",
            f"per-run cgroup v{self.cgroups.version} (memory+pids) under {self.cgroups.where}"
            if self.cgroups
            else f"no per-run cgroup ({self.why_no_cgroups}): memory is capped per process only",
        ]
        return "sandbox isolation: " + "; ".join(parts)

    @contextlib.asynccontextmanager
    async def run(self, memory_bytes: int, tasks: int) -> AsyncIterator[RunSlot]:
        """A uid (or None) and a cgroup (or None) held by one run until the block ends."""
        with self.uids.take() if self.uids else contextlib.nullcontext() as uid:
            name = f"run-{uid}" if uid is not None else f"run-{os.getpid()}-{next(self._runs)}"
            cgroup = self.cgroups.create(name, memory_bytes, tasks) if self.cgroups else None
            try:
                yield RunSlot(uid, cgroup)
            finally:
                if cgroup is not None:
                    await cgroup.remove()


@dataclass(frozen=True)
class RunSlot:
    """One run's own uid and cgroup, where the machine gives them."""

    uid: int | None
    cgroup: RunCgroup | None
