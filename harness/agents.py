"""Start real coder agents (`python -m agents.coder.main`) against a running core.

Used by the agent, tracing and k6 tests, the benchmarks and the showcase.
"""

import os
import re
import sys
import time
from pathlib import Path

from harness.service import Lifecycle, Service, stop_together

REGISTERED = re.compile(r"registered agent_id=(\S+)")


class AgentProcess(Service):
    """One agent process; with concurrency N it registers N agents (one per task slot).

    stop() is SIGTERM, as an orchestrator stops a pod: the agent finishes its task, reports
    it and deregisters. Its tool server is the MCP client's child in a session of its own:
    the agent stops it, and it exits on its own when a killed agent closes its stdin.
    """

    stop_timeout_s = 30.0
    ready_timeout_s = 90.0

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
        checkout: Path | None = None,
    ) -> None:
        """checkout: run the agent from that copy of the repository, with its own .venv."""
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(name, workdir / f"agent-{name}.log")
        self.concurrency = concurrency
        self._base_url = base_url
        self._registrar_key = registrar_key
        self._lease_wait_s = lease_wait_s
        self._env = env or {}
        self._python = sys.executable if checkout is None else str(checkout / ".venv/bin/python")
        if checkout is not None:
            self.cwd = checkout

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

    def command(self) -> list[str]:
        return [
            self._python, "-m", "agents.coder.main", "--name", self.name,
            "--concurrency", str(self.concurrency), "--lease-wait", str(self._lease_wait_s),
        ]  # fmt: skip

    def wait_ready(self, timeout: float) -> None:
        self.wait_registered(timeout)

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

    @property
    def agent_ids(self) -> list[str]:
        return REGISTERED.findall(self.log())


class AgentPool(Lifecycle):
    """N agent processes started together and stopped together."""

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
        stop_together(self.agents)

    @property
    def agent_ids(self) -> list[str]:
        return [agent_id for agent in self.agents for agent_id in agent.agent_ids]

    def process_of(self, agent_id: str) -> AgentProcess:
        """The process that registered agent_id."""
        for agent in self.agents:
            if agent_id in agent.agent_ids:
                return agent
        raise KeyError(agent_id)
