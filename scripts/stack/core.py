"""Start a real hypercode-core (uvicorn) for tests, benchmarks and the showcase."""

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from scripts.stack.service import Service, free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("client", "registrar", "admin")


class CoreProcess(Service):
    """hypercode-core in its own process, one key per role, SQLite in workdir unless told."""

    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
        workers: int = 1,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url or f"sqlite:///{workdir / 'hypercode.db'}"
        self.keys = {role: secrets.token_urlsafe(24) for role in ROLES}
        self.log_path = workdir / f"core-{self.port}.log"
        self._env = env or {}
        self._workers = workers
        self._process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        keys = [{"name": role, "key": key, "roles": [role]} for role, key in self.keys.items()]
        # Tracing stays off unless the caller points the core at a collector.
        traced = "OTEL_EXPORTER_OTLP_ENDPOINT" in self._env
        return {
            **os.environ,
            "OTEL_SDK_DISABLED": "false" if traced else "true",
            "HYPERCODE_DATABASE_URL": self.database_url,
            "HYPERCODE_API_KEYS": json.dumps(keys),
            **self._env,
        }

    def start(self, timeout: float = 30) -> None:
        command = [
            sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", str(self._workers), "--no-access-log",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 (our own interpreter and args)
                command, cwd=ROOT, env=self.environment(), stdout=log, stderr=subprocess.STDOUT
            )
        wait_until_ready(f"{self.base_url}/readyz", self._process, timeout)

    def stop(self) -> None:
        """Graceful stop (SIGTERM), as an orchestrator would do it."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """Crash (SIGKILL): nothing gets a chance to flush."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cpu_seconds(self) -> float:
        """User + system CPU time the running core has used so far (Linux /proc)."""
        assert self._process is not None, "the core is not running"
        # The command name may hold spaces: split after its closing parenthesis, where the
        # state is field 3, so utime (field 14) and stime (field 15) land at 11 and 12.
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _end(self, sig: signal.Signals) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(sig)
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
