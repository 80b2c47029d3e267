"""The events act gets are made from the checkout, with what the workflow's `if:`s read."""

import subprocess

import pytest

from scripts.workflow.run import event_payload
from tests.pipeline.tools import ROOT

pytestmark = pytest.mark.host  # reads this checkout's git history


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_push_is_a_push_of_head_to_main_after_its_parent() -> None:
    event = event_payload("push")

    assert event["ref"] == "refs/heads/main"
    assert event["after"] == git("rev-parse", "HEAD")
    # The rollback job re-deploys github.event.before.
    assert event["before"] == git("rev-parse", "HEAD~1")
    assert event["deleted"] is False


def test_pull_request_proposes_head_for_main() -> None:
    event = event_payload("pull_request")

    pull = event["pull_request"]
    assert pull["head"]["sha"] == git("rev-parse", "HEAD")
    assert pull["base"]["ref"] == "main"
    assert pull["base"]["sha"] == git("merge-base", "HEAD", "main")
    assert "ref" not in event  # act derives refs/pull/N/merge, so production's `if:` is false
