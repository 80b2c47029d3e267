"""The one place that starts and stops processes for tests, benchmarks, the showcase and load.

A `Service` owns one process started in its own process group, the log file it writes to, and
the single stop routine: SIGTERM to the group, wait, SIGKILL to whatever of the group is left.
Every service started and not yet stopped is known here, so a test session can stop what a
failed test left behind (`stop_all`).
"""

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
PR_SET_PDEATHSIG = 1
_POLL_S = 0.05

# Started and not yet stopped, so stop_all can find what a failed test left behind.
_running: set["Service"] = set()


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """count distinct ports that were free a moment ago (the small race with other processes
    is accepted for tests and demos). They are held open together while they are picked: one
    at a time, the kernel may hand the same port out twice, and a server given two equal
    ports fails to start."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago."""
    [port] = free_ports(1, host)
    return port


def wait_until_ready(url: str, service: "Service | None", timeout: float) -> None:
    """Poll url until it answers 200; fail early if the service's process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service is not None and service.returncode is not None:
            raise RuntimeError(
                f"{service.name} exited with {service.returncode} before {url} was ready"
                + (f"; see {service.log_path}" if service.log_path else "")
            )
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def _terminate_with_parent() -> None:
    """Runs in the child: SIGTERM it when its launcher dies, even by SIGKILL (Linux prctl).

    The kernel ties this to the launching thread, so services are started from the thread
    that lives as long as they do (the main thread everywhere here).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


class Lifecycle(ABC):
    """Something `with` starts and always stops, even when starting fails half-way."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> object: ...

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields from the state (field 3) on; None if the process has gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # ProcessLookupError: it ended mid-read
        return None
    # The command name may hold spaces: split after its closing parenthesis.
    return stat.rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used itself so far (Linux /proc)."""
    fields = stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(f"no process {pid}")
    # utime (field 14) and stime (field 15), counted from the state (field 3).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Service(Lifecycle):
    """One process in its own group with its own log; `with` starts it and always stops it.

    Subclasses say what to run (`command`, `environment`) and when it is ready (`wait_ready`).
    """

    stop_timeout_s: float = 15.0
    ready_timeout_s: float = 30.0
    cwd: Path = ROOT
    user: str | None = None  # run as this account (PostgreSQL refuses root)

    def __init__(self, name: str, log_path: Path | None) -> None:
        """log_path None: the process writes to our own stdout and stderr."""
        self.name = name
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def command(self) -> list[str]: ...

    def environment(self) -> Mapping[str, str] | None:
        """The process's environment; None inherits ours."""
        return None

    def wait_ready(self, timeout: float) -> None:
        """Block until the process serves; by default it does as soon as it runs."""

    def spawn(self) -> None:
        """Start the process in a new process group without waiting for it to be ready."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        if self._process is not None:
            self._sweep_group()  # the last run ended on its own: reap it first
        with contextlib.ExitStack() as stack:
            log: IO[bytes] | None = None
            if self.log_path is not None:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                log = stack.enter_context(self.log_path.open("ab"))
            self._process = subprocess.Popen(  # noqa: S603 (argv from our own launchers, no shell)
                self.command(),
                cwd=self.cwd,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
                user=self.user,
                group=self.user,
                extra_groups=[] if self.user else None,
                # Its own group: the stop routine reaches everything it starts in that group.
                start_new_session=True,
                preexec_fn=_terminate_with_parent,
            )
        _running.add(self)

    def start(self, timeout: float | None = None) -> None:
        """Spawn and wait until ready; a process that never got ready is stopped again."""
        self.spawn()
        try:
            self.wait_ready(self.ready_timeout_s if timeout is None else timeout)
        except BaseException:
            self.stop()
            raise

    def wait(self, timeout: float | None = None) -> int:
        """The exit code once the process ends (subprocess.TimeoutExpired after timeout)."""
        if self._process is None:
            raise RuntimeError(f"{self.name} was never started")
        if not self._wait_unreaped(float("inf") if timeout is None else timeout):
            raise subprocess.TimeoutExpired(self._process.args, timeout or 0)
        code = self.returncode
        assert code is not None
        return code

    def terminate(self) -> None:
        """SIGTERM to the group without waiting (stop_together overlaps graceful exits)."""
        if self.running:
            assert self._process is not None
            _signal_group(self._process.pid, signal.SIGTERM)

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM to the group, wait for the process, then SIGKILL what is left of the group.

        Returns the exit code (negative: the signal that ended it); None if never started.
        """
        if self._process is None:
            return None
        self.terminate()
        timeout = self.stop_timeout_s if timeout is None else timeout
        if not self._wait_unreaped(timeout):
            logger.warning("%s ignored SIGTERM for %s s: SIGKILL", self.name, timeout)
        self._sweep_group()
        return self._process.returncode

    def kill(self) -> None:
        """SIGKILL to the group at once, as a crash (or the OOM killer) would end it."""
        if self._process is not None:
            self._sweep_group()

    def _wait_unreaped(self, timeout: float) -> bool:
        """Wait until the process ends; True if it did within timeout."""
        deadline = time.monotonic() + timeout
        while self.returncode is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_S)
        return True

    def _sweep_group(self) -> None:
        """SIGKILL every member of the group still there, then reap the process."""
        assert self._process is not None
        if self._process.returncode is None:
            # Not reaped yet, so the group id is still ours: no stranger can have taken it.
            _signal_group(self._process.pid, signal.SIGKILL)
        self._process.wait()
        _running.discard(self)

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def cpu_seconds(self) -> float:
        """CPU time the running process has used itself so far."""
        if self.pid is None:
            raise RuntimeError(f"{self.name} is not running")
        return cpu_seconds(self.pid)

    @property
    def returncode(self) -> int | None:
        """The exit code (negative: the signal that ended it); None while running or unstarted.

        Read without reaping: until the stop routine reaps it, the ended process keeps its
        group id, so the final SIGKILL to the group cannot reach a stranger's group.
        """
        if self._process is None:
            return None
        if self._process.returncode is not None:  # reaped by the stop routine
            return self._process.returncode
        ended = os.waitid(os.P_PID, self._process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if ended is None:
            return None
        return ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status

    @property
    def running(self) -> bool:
        return self._process is not None and self.returncode is None

    def log(self) -> str:
        """What the process has written to its log so far."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")


class Command(Service):
    """Any command as a service: stub servers and one-off processes in tests and benchmarks."""

    def __init__(
        self,
        argv: Sequence[str | Path],
        *,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        ready_url: str | None = None,
    ) -> None:
        super().__init__(Path(argv[0]).name, log_path)
        self._argv = [str(part) for part in argv]
        self._env = env
        self._ready_url = ready_url

    def command(self) -> list[str]:
        return self._argv

    def environment(self) -> Mapping[str, str] | None:
        return None if self._env is None else {**os.environ, **self._env}

    def wait_ready(self, timeout: float) -> None:
        if self._ready_url is not None:
            wait_until_ready(self._ready_url, self, timeout)


def stop_together(services: Iterable[Service]) -> None:
    """Stop several services, all signalled first so their graceful exits overlap."""
    services = list(services)
    for service in services:
        service.terminate()
    for service in services:
        service.stop()


def stop_all() -> list[str]:
    """Stop every service started in this process and not stopped yet.

    A test session's last step: whatever a failed or interrupted test left ends here. Returns
    the names of those that were still running (the others had exited and are only reaped).
    """
    left = list(_running)
    running = [service.name for service in left if service.running]
    stop_together(left)
    return running
