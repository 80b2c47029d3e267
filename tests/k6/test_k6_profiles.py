"""The load shapes and thresholds k6 resolves from the script, read with `k6 inspect`."""

import pytest

from harness.k6 import K6Error, inspect_options, load_profiles

OPERATION_TAGS = ["submit_task", "query_status", "kill_agent", "register_simulated_agent"]


def test_full_profile_ramps_to_50_vus_holds_10_minutes_and_ramps_down() -> None:
    swarm = inspect_options("full")["scenarios"]["swarm"]

    assert swarm["executor"] == "ramping-vus"
    assert swarm["exec"] == "swarmCycle"
    assert swarm["stages"] == [
        {"duration": "30s", "target": 50},
        {"duration": "10m0s", "target": 50},
        {"duration": "10s", "target": 0},
    ]


def test_sla_thresholds_hold_globally_and_every_operation_tag_must_run() -> None:
    thresholds = inspect_options("full")["thresholds"]

    assert thresholds["http_req_duration"] == ["p(95)<500"]
    assert thresholds["http_req_failed"] == ["rate<0.01"]
    for tag in OPERATION_TAGS:
        assert thresholds[f"http_req_duration{{operation:{tag}}}"] == ["p(95)<500"]
        assert thresholds[f"http_req_failed{{operation:{tag}}}"] == ["rate<0.01"]
        assert thresholds[f"http_reqs{{operation:{tag}}}"] == ["count>0"]
    # Fast 429s (backpressure) cannot hide slow accepted submits.
    assert thresholds["http_req_duration{operation:submit_task,status:202}"] == ["p(95)<500"]


@pytest.mark.parametrize("profile", ["ci", "smoke"])
def test_short_profiles_are_shorter_than_full_and_keep_the_thresholds(profile: str) -> None:
    profiles = load_profiles()
    options = inspect_options(profile)

    assert profiles[profile].planned_seconds < 60 < profiles["full"].planned_seconds
    assert options["thresholds"] == inspect_options("full")["thresholds"]
    assert options["scenarios"]["swarm"]["stages"][-1]["target"] == 0


def test_unknown_profile_is_refused_with_the_choices() -> None:
    with pytest.raises(
        K6Error, match=r"unknown PROFILE .*nightly.*: choose one of full, ci, smoke"
    ):
        inspect_options("nightly")
