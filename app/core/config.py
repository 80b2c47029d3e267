"""Settings of hypercode-core, read from HYPERCODE_* environment variables."""

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.keys import ApiKey


def _default_db_path() -> Path:
    return Path.home() / ".local" / "share" / "hypercode" / "hypercode.db"


# A cap on queued tasks: unset or 0 is no cap (None), otherwise at least 1.
QueueCapSetting = Annotated[int | None, Field(ge=0), AfterValidator(lambda limit: limit or None)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYPERCODE_", extra="ignore")

    # Embedded by default: a SQLite file created on first start.
    database_url: str = Field(default_factory=lambda: f"sqlite:///{_default_db_path()}")
    api_keys: list[ApiKey] = []
    # Generates one key with every role and logs it: for a laptop, never for a deployment.
    dev_mode: bool = False

    lease_ttl_s: float = Field(default=15.0, gt=0.5, le=600)
    reaper_interval_s: float = Field(default=1.0, gt=0, le=60)
    max_lease_wait_s: float = Field(default=30.0, gt=0, le=120)
    # Long-polls also re-check the database at this interval, for tasks queued by other replicas.
    lease_poll_interval_s: float = Field(default=0.5, gt=0, le=10)

    # Backpressure: over either cap, a submit is refused with 429 (docs/api.md#backpressure).
    max_queued_tasks: QueueCapSetting = None
    max_queued_tasks_per_client: QueueCapSetting = None

    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    max_output_bytes: int = Field(default=65_536, ge=1024)

    # Adds latency to every /api/v1 request so tests can prove the k6 SLAs can fail.
    test_latency_ms: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def check_safety(self) -> "Settings":
        if self.test_latency_ms and not self.dev_mode:
            raise ValueError(
                "HYPERCODE_TEST_LATENCY_MS is a test setting: it needs HYPERCODE_DEV_MODE=true"
            )
        if not self.api_keys and not self.dev_mode:
            raise ValueError(
                "no API keys: set HYPERCODE_API_KEYS (JSON list of {name, key, roles}) "
                "or HYPERCODE_DEV_MODE=true to generate one"
            )
        if not self.database_url.startswith(("sqlite:///", "postgres://", "postgresql://")):
            raise ValueError("HYPERCODE_DATABASE_URL must start with sqlite:/// or postgresql://")
        return self
