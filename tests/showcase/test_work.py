"""The showcase's account of the work: failure reasons, the backlog, and the verdict on it."""

from dataclasses import replace

from scripts.work import TaskOutcome, Work, reason_of, work_failures

EXPECTED = "hello\n"


def traced(status: str = "succeeded", output: str | None = EXPECTED) -> TaskOutcome:
    error = None if status == "succeeded" else "exit code 1: bwrap: cannot mount /tmp/x1234abcd"
    return TaskOutcome("t1", status, output, error, EXPECTED)


def work(agents: int = 2, **counts: int) -> Work:
    return Work(
        agents=agents,
        counts={"succeeded": 0, "failed": 0, "queued": 0, **counts},
        submitted=3000,
        finished=60,
        load_s=30.0,
        failure_reasons=[("exit code 1: bwrap: cannot mount /tmp/x*", counts.get("failed", 0))],
    )


def test_healthy_work_has_no_failures() -> None:
    assert work_failures(traced(), work(succeeded=60, queued=2940)) == []


def test_a_failed_traced_task_fails_the_verdict_with_its_error() -> None:
    [failure] = work_failures(traced("failed", output=""), work(succeeded=60))
    assert failure.startswith("the traced task failed: exit code 1: bwrap")


def test_a_traced_task_with_the_wrong_output_fails_the_verdict() -> None:
    [failure] = work_failures(traced(output="hi\n"), work(succeeded=60))
    assert "'hi\\n'" in failure and "'hello\\n'" in failure


def test_tasks_that_fail_correct_code_fail_the_verdict_with_the_common_reason() -> None:
    [failure] = work_failures(traced(), work(succeeded=10, failed=107))
    assert failure == (
        "107 task(s) failed though their code is correct; most often: "
        "exit code 1: bwrap: cannot mount /tmp/x*"
    )


def test_the_report_explains_the_backlog_by_the_rates() -> None:
    lines = "\n".join(work(agents=2, succeeded=60, queued=2940).lines())
    assert "100.0 tasks/s submitted, 2.0 tasks/s finished by 2 agent(s)" in lines
    assert (
        "Backlog: 2,940 not done when the load ended, because submits outpace 2 agent(s)" in lines
    )


def test_reasons_group_alike_failures_whatever_their_ids() -> None:
    first = reason_of("exit code 1: Traceback\n  File x\nOSError: /tmp/job-1a2b3c4d5e gone")
    second = reason_of("exit code 1: Traceback\n  File y\nOSError: /tmp/job-9f8e7d6c5b gone")
    assert first == second == "exit code 1: Traceback ... OSError: /tmp/job-* gone"
    assert reason_of("lease expired after 3 attempts") == "lease expired after 3 attempts"
    assert reason_of(None) == "(no error given)"


def test_tasks_that_fail_after_the_load_still_fail_the_verdict() -> None:
    # None failed when the load ended; one of those the agents held then failed meanwhile.
    ended = work(succeeded=60, queued=2900, running=2)
    late = replace(ended, final_counts={"succeeded": 61, "failed": 1, "cancelled": 2900})
    assert work_failures(traced(), ended) == []
    [failure] = work_failures(traced(), late)
    assert failure.startswith("1 task(s) failed though their code is correct")
    assert (
        "Tasks at the end: 61 succeeded, 1 failed, 2,900 cancelled, 0 queued, 0 leased, "
        "0 running (2 finished after the load ended)"
    ) in late.lines()
