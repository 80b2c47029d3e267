"""The pipeline's decisions, on reports shaped like the real tools' ones."""

import json

import pytest
from swarm_pipeline.decisions import (
    Finding,
    ReportError,
    Severity,
    SmokeCheck,
    bandit_findings,
    gate_decision,
    parse_smoke_report,
    release_health,
    scan_verdict,
    threshold_results,
    trivy_findings,
)


def swarm_summary(**thresholds: bool) -> dict[str, object]:
    """The shape k6/lib/summary.js writes: metric -> expression -> held."""
    return {
        "schema": "swarm-load-summary/1",
        "passed": all(thresholds.values()),
        "thresholds": {metric: {"p(95)<500": held} for metric, held in thresholds.items()},
    }


def test_gate_opens_with_approval_and_every_threshold_held() -> None:
    verdict = gate_decision(swarm_summary(http_req_duration=True, checks=True), approved=True)
    assert verdict.ok
    assert "all 2 k6 thresholds held" in verdict.reasons


def test_gate_stays_closed_without_approval() -> None:
    verdict = gate_decision(swarm_summary(http_req_duration=True), approved=False)
    assert not verdict.ok
    assert "no production approval given" in verdict.reasons


def test_gate_stays_closed_when_one_threshold_failed() -> None:
    summary = swarm_summary(http_req_duration=True, **{"http_req_failed{operation:kill}": False})
    verdict = gate_decision(summary, approved=True)
    assert not verdict.ok
    assert "threshold failed: http_req_failed{operation:kill}: p(95)<500" in verdict.reasons


def test_gate_stays_closed_when_the_summary_contradicts_itself() -> None:
    summary = swarm_summary(http_req_duration=True) | {"passed": False}
    assert not gate_decision(summary, approved=True).ok


@pytest.mark.parametrize("summary", [{}, {"thresholds": {}}, {"metrics": "garbage"}])
def test_gate_stays_closed_when_no_threshold_can_be_read(summary: dict[str, object]) -> None:
    verdict = gate_decision(summary, approved=True)
    assert not verdict.ok
    assert any("cannot be judged" in reason for reason in verdict.reasons)


def test_k6_native_summary_thresholds_are_read() -> None:
    native = {
        "metrics": {
            "http_req_duration": {"thresholds": {"p(95)<500": {"ok": True}}},
            "http_req_failed": {"thresholds": {"rate<0.01": {"ok": False}}},
            "iterations": {"values": {"count": 3}},
        }
    }
    assert threshold_results(native) == {
        "http_req_duration: p(95)<500": True,
        "http_req_failed: rate<0.01": False,
    }


def test_a_threshold_list_is_no_summary_shape() -> None:
    listed = [{"metric": "checks", "expression": "rate>0.99", "ok": True}]
    assert threshold_results({"thresholds": listed}) == {}
    assert not gate_decision({"thresholds": listed}, approved=True).ok


def test_an_unreadable_threshold_outcome_is_not_a_pass() -> None:
    assert threshold_results({"thresholds": {"checks": {"rate>0.99": "yes"}}}) == {
        "checks: rate>0.99": False
    }


def test_smoke_report_is_parsed() -> None:
    report = json.dumps({"checks": [{"name": "check_health", "passed": True, "detail": "ok"}]})
    assert parse_smoke_report(report) == [SmokeCheck("check_health", True, "ok")]


@pytest.mark.parametrize(
    "report", ["not json", "[]", '{"checks": "all good"}', '{"checks": [{"passed": true}]}']
)
def test_malformed_smoke_report_is_an_error(report: str) -> None:
    with pytest.raises(ReportError):
        parse_smoke_report(report)


def test_healthy_when_every_smoke_check_passed() -> None:
    verdict = release_health([SmokeCheck("a", True, ""), SmokeCheck("b", True, "")])
    assert verdict.ok


def test_roll_back_when_a_smoke_check_failed() -> None:
    verdict = release_health([SmokeCheck("a", True, ""), SmokeCheck("b", False, "503")])
    assert not verdict.ok
    assert verdict.reasons == ("smoke failed: b: 503",)


def test_roll_back_when_no_smoke_check_ran() -> None:
    assert not release_health([]).ok


def test_bandit_report_findings_and_parse_errors() -> None:
    report = json.dumps(
        {
            "results": [
                {
                    "test_id": "B602",
                    "issue_severity": "HIGH",
                    "filename": "app/x.py",
                    "line_number": 3,
                    "issue_text": "shell=True",
                }
            ],
            "errors": [{"filename": "app/broken.py", "reason": "syntax error"}],
        }
    )
    findings = bandit_findings(report)
    assert [(f.rule, f.severity, f.location) for f in findings] == [
        ("B602", Severity.HIGH, "app/x.py:3"),
        ("parse-error", Severity.HIGH, "app/broken.py"),
    ]


def test_trivy_report_keeps_only_failed_checks() -> None:
    report = json.dumps(
        {
            "Results": [
                {
                    "Target": "Dockerfile",
                    "Misconfigurations": [
                        {"ID": "DS-0002", "Severity": "HIGH", "Status": "FAIL", "Title": "root"},
                        {"ID": "DS-0001", "Severity": "MEDIUM", "Status": "PASS", "Title": "ok"},
                    ],
                },
                {"Target": "app/.env", "Secrets": [{"RuleID": "aws", "Severity": "CRITICAL"}]},
                {
                    "Target": "uv.lock",
                    "Vulnerabilities": [
                        {"VulnerabilityID": "CVE-1", "PkgName": "x", "Severity": "LOW"}
                    ],
                },
            ]
        }
    )
    findings = trivy_findings(report)
    assert [(f.rule, f.severity, f.location) for f in findings] == [
        ("DS-0002", Severity.HIGH, "Dockerfile"),
        ("aws", Severity.CRITICAL, "app/.env"),
        ("CVE-1", Severity.LOW, "uv.lock (x)"),
    ]


def test_trivy_report_without_results_has_no_findings() -> None:
    assert trivy_findings('{"SchemaVersion": 2}') == []


def test_scanner_report_of_the_wrong_shape_is_an_error() -> None:
    with pytest.raises(ReportError):
        trivy_findings('{"Results": "none"}')


def finding(severity: Severity) -> Finding:
    return Finding("trivy", "X", severity, "f", "t")


def test_scan_verdict_blocks_at_high_and_above() -> None:
    assert scan_verdict([finding(Severity.MEDIUM), finding(Severity.LOW)]).ok
    assert not scan_verdict([finding(Severity.LOW), finding(Severity.HIGH)]).ok
    assert not scan_verdict([finding(Severity.CRITICAL)]).ok


def test_unknown_severity_sorts_lowest() -> None:
    assert Severity.parse("whatever") is Severity.UNKNOWN
    assert Severity.parse("critical") is Severity.CRITICAL
