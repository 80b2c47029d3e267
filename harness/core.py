"""Start a real hypercode-core (uvicorn) for tests, benchmarks and the showcase."""

import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import SecretStr

from contract.keys import ApiKey, Role, api_keys_json
from harness.service import Service, free_port, wait_until_ready


class CoreProcess(Service):
    """hypercode-core in its own process, one key per role (plus a client key for each name
    in `clients`), SQLite in workdir unless told."""

    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
        workers: int = 1,
        clients: Sequence[str] = (),
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = port or free_port()
        super().__init__(f"hypercode-core:{self.port}", workdir / f"core-{self.port}.log")
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url or f"sqlite:///{workdir / 'hypercode.db'}"
        self.keys: dict[str, str] = {role: secrets.token_urlsafe(24) for role in Role}
        self.client_keys: dict[str, str] = {name: secrets.token_urlsafe(24) for name in clients}
        self._env = env or {}
        self._workers = workers

    def environment(self) -> dict[str, str]:
        keys = [
            ApiKey(name=role, key=SecretStr(key), roles=[role]) for role, key in self.keys.items()
        ]
        keys += [
            ApiKey(name=name, key=SecretStr(key), roles=[Role.client])
            for name, key in self.client_keys.items()
        ]
        # Tracing stays off unless the caller points the core at a collector.
        traced = "OTEL_EXPORTER_OTLP_ENDPOINT" in self._env
        return {
            **os.environ,
            "OTEL_SDK_DISABLED": "false" if traced else "true",
            "HYPERCODE_DATABASE_URL": self.database_url,
            "HYPERCODE_API_KEYS": api_keys_json(keys),
            **self._env,
        }

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", str(self._workers), "--no-access-log",
        ]  # fmt: skip

    def wait_ready(self, timeout: float) -> None:
        wait_until_ready(f"{self.base_url}/readyz", self, timeout)

    def restart(self) -> None:
        self.stop()
        self.start()
