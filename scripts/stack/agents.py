"""Start real coder agents (`python -m agents.coder.main`) against a running core.

Used by the agent, tracing and k6 tests, the benchmarks and the showcase.
"""

import ctypes
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.stack.service import Service

ROOT = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1
REGISTERED = re.compile(r"registered agent_id=(\S+)")


def _terminate_with_parent() -> None:
    """SIGTERM the agent if its launcher dies, so a crashed test leaves no agents behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class AgentProcess(Service):
    """One agent process; with concurrency N it registers N agents (one per task slot)."""

    def __init__(
        self,
        base_url: str,
        registrar_key: str,
        workdir: Path,
        *,
        name: str = "coder",
        concurrency: int = 1,
        lease_wait_s: float = 5.0,
        env: dict[str, str] | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.concurrency = concurrency
        self.log_path = workdir / f"agent-{name}.log"
        self._base_url = base_url
        self._registrar_key = registrar_key
        self._lease_wait_s = lease_wait_s
        self._env = env or {}
        self._process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        # Tracing is on only when the caller says where spans go (e.g. JaegerProcess.otel_env).
        traced = any(name.startswith("OTEL_EXPORTER_") for name in self._env)
        return {
            **os.environ,
            "OTEL_SDK_DISABLED": "false" if traced else "true",
            "HYPERCODE_URL": self._base_url,
            "HYPERCODE_REGISTRAR_KEY": self._registrar_key,
            **self._env,
        }

    def spawn(self) -> None:
        """Start the process without waiting for it to register."""
        command = [
            sys.executable, "-m", "agents.coder.main", "--name", self.name,
            "--concurrency", str(self.concurrency), "--lease-wait", str(self._lease_wait_s),
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            # Its own session, so kill() reaches the tool server it starts as well.
            self._process = subprocess.Popen(  # noqa: S603 (our own interpreter and args)
                command, cwd=ROOT, env=self.environment(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_terminate_with_parent,
            )  # fmt: skip

    def wait_registered(self, timeout: float = 90) -> list[str]:
        """Block until every slot has registered; returns the agent ids."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(ids := self.agent_ids) >= self.concurrency:
                return ids
            if self.returncode is not None:
                raise RuntimeError(f"agent {self.name} exited with {self.returncode}: {self.log()}")
            time.sleep(0.1)
        raise TimeoutError(f"agent {self.name} did not register within {timeout}s: {self.log()}")

    def start(self, timeout: float = 90) -> None:
        self.spawn()
        self.wait_registered(timeout)

    @property
    def agent_ids(self) -> list[str]:
        return REGISTERED.findall(self.log())

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, as an orchestrator stops a pod; returns the exit code."""
        if self._process is None:
            raise RuntimeError("not started")
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        return self._process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the agent and everything it started, as a crash would."""
        if self._process is None or self._process.poll() is not None:
            return
        os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()

    def stop(self) -> None:
        if self._process is None:
            return
        try:
            self.terminate(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


class AgentPool(Service):
    """N agent processes started together."""

    def __init__(
        self,
        base_url: str,
        registrar_key: str,
        workdir: Path,
        count: int = 2,
        *,
        concurrency: int = 1,
        lease_wait_s: float = 5.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.agents = [
            AgentProcess(
                base_url, registrar_key, workdir, name=f"coder-{index}", concurrency=concurrency,
                lease_wait_s=lease_wait_s, env=env,
            )
            for index in range(count)
        ]  # fmt: skip

    def start(self, timeout: float = 120) -> None:
        for agent in self.agents:
            agent.spawn()
        for agent in self.agents:
            agent.wait_registered(timeout)

    def stop(self) -> None:
        for agent in self.agents:
            if agent.returncode is None and agent.pid is not None:
                os.kill(agent.pid, signal.SIGTERM)
        for agent in self.agents:
            agent.stop()

    @property
    def agent_ids(self) -> list[str]:
        return [agent_id for agent in self.agents for agent_id in agent.agent_ids]

    def process_of(self, agent_id: str) -> AgentProcess:
        """The process that registered agent_id."""
        for agent in self.agents:
            if agent_id in agent.agent_ids:
                return agent
        raise KeyError(agent_id)
