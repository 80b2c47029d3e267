"""What happened to the work a run submitted: counts, rates, failure reasons, a verdict.

The showcase reads the core's API before and after the load, lists the failed tasks' errors,
judges the work, and at the end cancels what is still queued, so its database holds no
pending work once the demo is over.
"""

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from contract.tasks import TaskStatus

FINISHED = (TaskStatus.succeeded, TaskStatus.failed)
PENDING = (TaskStatus.queued, TaskStatus.leased, TaskStatus.running)
IN_FLIGHT = (TaskStatus.leased, TaskStatus.running)
# How long the end waits for the tasks agents hold: each is one short run, far below this.
SETTLE_S = 60.0
# Failed tasks read for the reasons: enough for the common ones, bounded for a huge backlog.
MAX_FAILED_READ = 2000
PAGE = 200
TOP_REASONS = 5
# Temp names, ids and counters would split one reason into many.
_VOLATILE = re.compile(r"[0-9a-f]{8,}|\d{3,}")


@dataclass(frozen=True)
class TaskOutcome:
    """One task as it ended (or did not), against the output its code must print."""

    id: str
    status: str
    output: str | None
    error: str | None
    expected_output: str

    @property
    def ok(self) -> bool:
        return self.status == TaskStatus.succeeded and self.output == self.expected_output

    def describe(self) -> str:
        if self.ok:
            return f"succeeded, output {self.output!r}"
        if self.status in PENDING:
            return f"never finished (still {self.status})"
        if self.status != TaskStatus.succeeded:
            return f"{self.status}" + (f": {self.error}" if self.error else "")
        return f"succeeded but printed {self.output!r}, not {self.expected_output!r}"


@dataclass(frozen=True)
class Work:
    """Task counts and rates of one load run; reasons of the tasks that failed."""

    agents: int
    counts: dict[str, int]  # by status, right after the load
    submitted: int  # during the load
    finished: int  # succeeded or failed during the load
    load_s: float
    failure_reasons: list[tuple[str, int]] = field(default_factory=list)  # most common first
    cancelled_backlog: int = 0  # queued tasks cancelled at the end
    # By status at the very end: backlog cancelled, the tasks agents held done (settled_counts).
    final_counts: dict[str, int] | None = None

    @property
    def failed(self) -> int:
        """Failed tasks, counting those that ended after the load too."""
        return (self.final_counts or self.counts).get(TaskStatus.failed, 0)

    @property
    def submit_rate(self) -> float:
        return self.submitted / self.load_s if self.load_s else 0.0

    @property
    def agent_rate(self) -> float:
        return self.finished / self.load_s if self.load_s else 0.0

    @property
    def still_pending(self) -> int:
        return sum(self.counts.get(status, 0) for status in PENDING)

    def lines(self) -> list[str]:
        """The report's lines about the work."""
        counts = ", ".join(f"{self.counts.get(s, 0):,} {s}" for s in (*FINISHED, *PENDING))
        lines = [
            f"Tasks after the load: {counts}",
            f"Rates over the {self.load_s:.0f} s load: {self.submit_rate:.1f} tasks/s submitted, "
            f"{self.agent_rate:.1f} tasks/s finished by {self.agents} agent(s)",
        ]
        if self.still_pending and self.submit_rate > self.agent_rate:
            lines.append(
                f"Backlog: {self.still_pending:,} not done when the load ended, because submits "
                f"outpace {self.agents} agent(s) running one task at a time (--agents N adds more)"
            )
        if self.cancelled_backlog:
            lines.append(
                f"Cancelled the {self.cancelled_backlog:,} task(s) still queued (through the API), "
                "so no work is left pending in the database"
            )
        if self.final_counts is not None:
            lines.append(self._end_line(self.final_counts))
        if self.failure_reasons:
            lines.append("Most common failure reasons:")
            lines += [f"  {count:6,} x {reason}" for reason, count in self.failure_reasons]
        return lines

    def _end_line(self, final: dict[str, int]) -> str:
        statuses = (*FINISHED, TaskStatus.cancelled, *PENDING)
        counts = ", ".join(f"{final.get(s, 0):,} {s}" for s in statuses)
        late = sum(final.get(s, 0) - self.counts.get(s, 0) for s in FINISHED)
        return f"Tasks at the end: {counts} ({late:,} finished after the load ended)"


def counts_by_status(http: httpx.Client) -> dict[str, int]:
    counts: dict[str, int] = http.get("/api/v1/execution/stats").raise_for_status().json()["counts"]
    return counts


def settled_counts(http: httpx.Client, timeout_s: float = SETTLE_S) -> dict[str, int]:
    """Counts by status once no task is held by an agent any more (or at the deadline)."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = counts_by_status(http)
        if not any(counts.get(s, 0) for s in IN_FLIGHT) or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def reason_of(error: str | None) -> str:
    """One line that groups failures alike: the error's first and last line, ids blanked."""
    lines = (error or "").strip().splitlines()
    if not lines:
        return "(no error given)"
    text = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
    return _VOLATILE.sub("*", text)[:160]


def failure_reasons(http: httpx.Client) -> list[tuple[str, int]]:
    """The most common reasons among (up to MAX_FAILED_READ of) the newest failed tasks."""
    reasons: Counter[str] = Counter()
    cursor: str | None = None
    read = 0
    while read < MAX_FAILED_READ:
        params: dict[str, Any] = {"status": TaskStatus.failed, "limit": PAGE}
        if cursor:
            params["cursor"] = cursor
        page = http.get("/api/v1/execution", params=params).raise_for_status().json()
        reasons.update(reason_of(task["error"]) for task in page["items"])
        read += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return reasons.most_common(TOP_REASONS)


def cancel_queued(base_url: str, admin_key: str, *, parallel: int = 16) -> int:
    """Cancel every queued task; returns how many this call cancelled.

    Agents may lease a task between the listing and its cancel: that one finishes (409).
    """
    return asyncio.run(_cancel_queued(base_url, admin_key, parallel))


async def _cancel_queued(base_url: str, admin_key: str, parallel: int) -> int:
    headers = {"Authorization": f"Bearer {admin_key}"}
    limit = asyncio.Semaphore(parallel)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:

        async def cancel(task_id: str) -> bool:
            async with limit:
                response = await http.post(f"/api/v1/execution/{task_id}/cancel")
            if response.status_code == httpx.codes.CONFLICT:
                return False  # an agent finished it first
            response.raise_for_status()
            return True

        cancelled = 0
        while True:
            # Always the first page: what was cancelled no longer shows as queued.
            queued: dict[str, Any] = {"status": TaskStatus.queued, "limit": PAGE}
            listed = await http.get("/api/v1/execution", params=queued)
            ids = [task["id"] for task in listed.raise_for_status().json()["items"]]
            if not ids:
                return cancelled
            cancelled += sum(await asyncio.gather(*map(cancel, ids)))


def work_failures(traced: TaskOutcome, work: Work) -> list[str]:
    """Why the work failed; empty when it did not.

    Every task the showcase submits is code that succeeds (a print), so no failure is the
    task's own doing: each one counts against the swarm. Tasks still queued when the load
    ends do not: that is the backlog, explained in the report.
    """
    problems = []
    if not traced.ok:
        problems.append(f"the traced task {traced.describe()}")
    failed = work.failed
    if failed:
        most_often = work.failure_reasons[0][0] if work.failure_reasons else "unknown"
        problems.append(
            f"{failed:,} task(s) failed though their code is correct; most often: {most_often}"
        )
    return problems
