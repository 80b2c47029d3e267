"""The pipeline's decisions, as plain functions of the reports the stages produce.

Nothing here imports Dagger, so the gate, the rollback and the report parsing are
unit-tested without an engine. Reports come from other tools (k6, Bandit, Trivy, the
smoke checks); they are parsed defensively: a report that cannot be read never counts
as a pass.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class Severity(IntEnum):
    """Severities shared by Bandit and Trivy, ordered so they compare."""

    UNKNOWN = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: object) -> "Severity":
        return cls.__members__.get(str(text).upper(), cls.UNKNOWN)


@dataclass(frozen=True)
class Verdict:
    """A decision and the reasons behind it, printed in the pipeline's log; ok=True always
    means "good to go on" (gate open, scan clean, release healthy)."""

    ok: bool
    reasons: tuple[str, ...]

    def describe(self, subject: str) -> str:
        head = f"{subject}: {'yes' if self.ok else 'no'}"
        return "\n".join([head, *(f"  - {reason}" for reason in self.reasons)])


@dataclass(frozen=True)
class Finding:
    """One issue reported by a security scanner."""

    tool: str
    rule: str
    severity: Severity
    location: str
    title: str

    def describe(self) -> str:
        return f"[{self.tool} {self.severity.name}] {self.rule} {self.location}: {self.title}"


@dataclass(frozen=True)
class SmokeCheck:
    """The outcome of one smoke check against a deployed service."""

    name: str
    passed: bool
    detail: str


class ReportError(ValueError):
    """A tool's report is missing or not in the expected shape."""


def load_json_object(text: str, what: str) -> dict[str, Any]:
    """Parse a report that must be a JSON object."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportError(f"{what} is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise ReportError(f"{what} is not a JSON object")
    return data


# --- k6 load test and the production gate -------------------------------------------


def threshold_results(summary: Mapping[str, Any]) -> dict[str, bool]:
    """Map each k6 threshold ("metric{tag}: expression") to whether it held.

    Reads k6's own summary shape, `metrics.<metric>.thresholds.<expression>.ok`, and the
    swarm summary's top-level `thresholds`: `{metric: {expression: held}}`.
    """
    results: dict[str, bool] = {}
    metrics = summary.get("metrics")
    if isinstance(metrics, Mapping):
        for metric, body in metrics.items():
            if isinstance(body, Mapping):
                results.update(_thresholds_of(str(metric), body.get("thresholds")))
    top_level = summary.get("thresholds")
    if isinstance(top_level, Mapping):
        for metric, body in top_level.items():
            if isinstance(body, Mapping):
                results.update(_thresholds_of(str(metric), body))
            else:
                results[str(metric)] = body is True
    return results


def _thresholds_of(metric: str, thresholds: object) -> dict[str, bool]:
    if not isinstance(thresholds, Mapping):
        return {}
    results = {}
    for expression, outcome in thresholds.items():
        # k6 writes {"ok": bool}; anything else is unreadable and so not a pass.
        held = outcome.get("ok") is True if isinstance(outcome, Mapping) else outcome is True
        results[f"{metric}: {expression}"] = held
    return results


def gate_decision(summary: Mapping[str, Any], approved: bool) -> Verdict:
    """Open the production gate only with an approval and a load test whose SLAs all held.

    The swarm summary (k6/lib/summary.js) also carries its own overall `passed`; when it
    is there it must agree, so a summary that contradicts itself never opens the gate.
    """
    reasons = []
    thresholds = threshold_results(summary)
    failed = sorted(name for name, held in thresholds.items() if not held)
    if not thresholds:
        reasons.append("the k6 summary has no thresholds: the SLA cannot be judged")
    reasons.extend(f"threshold failed: {name}" for name in failed)
    overall = summary.get("passed", True)
    if overall is not True:
        reasons.append(f"the k6 summary says passed={overall!r}")
    sla_held = bool(thresholds) and not failed and overall is True
    if sla_held:
        reasons.append(f"all {len(thresholds)} k6 thresholds held")
    if not approved:
        reasons.append("no production approval given")
    return Verdict(ok=approved and sla_held, reasons=tuple(reasons))


# --- smoke checks and rollback -------------------------------------------------------


def parse_smoke_report(text: str) -> list[SmokeCheck]:
    """Read the smoke checks' JSON report: {"checks": [{"name", "passed", "detail"}]}."""
    checks = load_json_object(text, "smoke report").get("checks")
    if not isinstance(checks, list):
        raise ReportError("smoke report has no list of checks")
    return [_smoke_check(entry) for entry in checks]


def _smoke_check(entry: object) -> SmokeCheck:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        raise ReportError(f"smoke check without a name: {entry!r}")
    return SmokeCheck(
        name=entry["name"], passed=entry.get("passed") is True, detail=str(entry.get("detail", ""))
    )


def release_health(checks: Iterable[SmokeCheck]) -> Verdict:
    """Healthy (ok=True) only when smoke checks ran and all passed; otherwise roll back."""
    checks = list(checks)
    if not checks:
        return Verdict(ok=False, reasons=("no smoke check ran",))
    failed = [check for check in checks if not check.passed]
    if failed:
        return Verdict(
            ok=False, reasons=tuple(f"smoke failed: {c.name}: {c.detail}" for c in failed)
        )
    return Verdict(ok=True, reasons=(f"all {len(checks)} smoke checks passed",))


# --- security scanners ---------------------------------------------------------------


def bandit_findings(report: str) -> list[Finding]:
    """Findings of `bandit -f json`; files Bandit could not parse count as HIGH findings."""
    data = load_json_object(report, "Bandit report")
    findings = [
        Finding(
            tool="bandit",
            rule=str(result.get("test_id", "?")),
            severity=Severity.parse(result.get("issue_severity")),
            location=f"{result.get('filename', '?')}:{result.get('line_number', '?')}",
            title=str(result.get("issue_text", "")),
        )
        for result in _list_of_mappings(data.get("results"))
    ]
    findings += [
        Finding(
            tool="bandit",
            rule="parse-error",
            severity=Severity.HIGH,
            location=str(error.get("filename", "?")),
            title=str(error.get("reason", "")),
        )
        for error in _list_of_mappings(data.get("errors"))
    ]
    return findings


def trivy_findings(report: str) -> list[Finding]:
    """Failed misconfiguration checks, secrets and vulnerabilities of `trivy fs -f json`."""
    data = load_json_object(report, "Trivy report")
    findings: list[Finding] = []
    for result in _list_of_mappings(data.get("Results")):
        target = str(result.get("Target", "?"))
        findings += [
            _trivy_finding(target, item, "ID")
            for item in _list_of_mappings(result.get("Misconfigurations"))
            if item.get("Status", "FAIL") == "FAIL"
        ]
        findings += [
            _trivy_finding(target, item, "RuleID")
            for item in _list_of_mappings(result.get("Secrets"))
        ]
        findings += [
            _trivy_finding(target, item, "VulnerabilityID")
            for item in _list_of_mappings(result.get("Vulnerabilities"))
        ]
    return findings


def _trivy_finding(target: str, item: Mapping[str, Any], rule_key: str) -> Finding:
    line = item.get("StartLine") or (item.get("CauseMetadata") or {}).get("StartLine")
    package = item.get("PkgName")
    return Finding(
        tool="trivy",
        rule=str(item.get(rule_key, "?")),
        severity=Severity.parse(item.get("Severity")),
        location=f"{target}:{line}" if line else (f"{target} ({package})" if package else target),
        title=str(item.get("Title", "")),
    )


def _list_of_mappings(value: object) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportError(f"expected a list in the report, got {type(value).__name__}")
    return [item for item in value if isinstance(item, Mapping)]


def scan_verdict(findings: Iterable[Finding], blocking: Severity = Severity.HIGH) -> Verdict:
    """Pass (ok=True) unless a finding is at least as severe as `blocking`."""
    findings = sorted(findings, key=lambda finding: finding.severity, reverse=True)
    blockers = [finding for finding in findings if finding.severity >= blocking]
    reasons = [finding.describe() for finding in findings]
    reasons.append(
        f"{len(findings)} finding(s), {len(blockers)} at {blocking.name} or above (blocking)"
    )
    return Verdict(ok=not blockers, reasons=tuple(reasons))
