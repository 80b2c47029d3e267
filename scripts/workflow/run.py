"""Run .github/workflows/swarm-pipeline.yml on this machine with act, as GitHub would.

act runs every job on the host (`-P ubuntu-latest=-self-hosted`, no containers), in the
repository itself, with the project's own `dagger` first on PATH and the engine of
`~/.cache/swarm/dagger/env.sh` (scripts/dagger-offline.sh), so each `dagger call` step is
the one GitHub runs. act's artifact server carries the k6 summary from the load-test job
to the production job. The event is made from the checkout: `push` is a push of HEAD to
main (HEAD~1 is `github.event.before`), `pull_request` a pull request of HEAD into main.

Locally there is no approval step: act does not enforce the `production` environment's
required reviewers, so on a push the production job runs as if approved.

act's own output (JSON, verbose) goes to `act.log` in the run directory; the console gets
one line per job start and end and a summary.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from harness.service import free_port
from scripts.workflow.install import (
    REPO_ROOT,
    cache_dir,
    git,
    install_act,
    install_actions,
)

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "swarm-pipeline.yml"
Event = Literal["push", "pull_request"]
EVENTS: tuple[Event, ...] = ("push", "pull_request")
DEFAULT_BRANCH = "main"
LOOPBACK = "127.0.0.1"
NO_APPROVAL_NOTE = (
    "no approval step locally: act does not enforce the production environment's "
    "required reviewers, so the production job runs as if approved"
)


class WorkflowError(RuntimeError):
    """The workflow could not be started (a tool or the engine is missing)."""


Progress = Callable[[str], None]


@dataclass
class JobRun:
    """One job (one matrix entry) as act reported it."""

    job_id: str
    name: str
    result: str = "running"  # success, failure, skipped
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, result) in order


@dataclass
class WorkflowRun:
    """What a finished act run did, job by job."""

    event: Event
    returncode: int
    seconds: float
    run_dir: Path
    jobs: list[JobRun]

    @property
    def log(self) -> Path:
        return self.run_dir / "act.log"

    @property
    def artifacts(self) -> Path:
        return self.run_dir / "artifacts"

    def results(self, job_id: str) -> list[str]:
        """Results of every run of one job (a matrix job has one per entry)."""
        return [job.result for job in self.jobs if job.job_id == job_id]

    def steps(self, job_id: str) -> list[tuple[str, str]]:
        return [step for job in self.jobs if job.job_id == job_id for step in job.steps]

    def output(self, job_id: str) -> str:
        """What the job's steps printed (act's raw output lines), in order."""
        with self.log.open() as log:
            lines = [
                str(record.get("msg", ""))
                for record in _records(log, None)
                if record.get("jobID") == job_id and record.get("raw_output")
            ]
        return "\n".join(lines)

    def summary(self) -> str:
        lines = [f"{job.result:<8} {job.seconds:6.0f} s  {job.name}" for job in self.jobs]
        lines.append(f"act exit code {self.returncode}, {self.seconds:.0f} s; log: {self.log}")
        return "\n".join(lines)


def event_payload(event: Event) -> dict[str, Any]:
    """The webhook payload fields the workflow reads, made from the checkout's HEAD."""
    head = git("rev-parse", "HEAD")
    repository = {"default_branch": DEFAULT_BRANCH}
    if event == "push":
        parents = git("rev-list", "--parents", "-n", "1", "HEAD").split()[1:]
        return {
            "ref": f"refs/heads/{DEFAULT_BRANCH}",
            "before": parents[0] if parents else "0" * 40,
            "after": head,
            "deleted": False,
            "repository": repository,
        }
    base = git("merge-base", "HEAD", DEFAULT_BRANCH) if _has_branch(DEFAULT_BRANCH) else head
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    return {
        "number": 1,
        "pull_request": {
            "number": 1,
            "head": {"ref": branch, "sha": head},
            "base": {"ref": DEFAULT_BRANCH, "sha": base},
        },
        "repository": repository,
    }


def _has_branch(name: str) -> bool:
    try:
        git("rev-parse", "--verify", "--quiet", f"refs/heads/{name}")
    except subprocess.CalledProcessError:
        return False
    return True


def dagger_environment() -> dict[str, str]:
    """The environment whose `dagger` is first on PATH and answers with its engine."""
    env_sh = cache_dir() / "dagger" / "env.sh"
    if env_sh.is_file():
        sourced = subprocess.run(  # noqa: S603 - the engine script's own env file
            ["bash", "-c", 'source "$1" && env -0', "env.sh", str(env_sh)],  # noqa: S607
            capture_output=True,
            check=True,
        )
        env = dict(
            entry.split("=", 1) for entry in sourced.stdout.decode().split("\0") if "=" in entry
        )
    elif shutil.which("dagger"):
        env = dict(os.environ)
    else:
        raise WorkflowError(
            "no dagger: bring the offline engine up with `make dagger-up` "
            "(docs/dagger-offline.md), or install Dagger where the internet is reachable"
        )
    engine = _dagger(env, "core", "version")
    if engine.returncode != 0:
        raise WorkflowError(
            f"the Dagger engine does not answer ({engine.stderr.strip()[-300:]}); `make dagger-up`"
        )
    # "dagger v0.21.8 (image://…) linux/amd64": dagger-for-github downloads any other version.
    found, wanted = _dagger(env, "version").stdout.split()[1], workflow_dagger_version()
    if found != wanted:
        raise WorkflowError(
            f"the workflow asks for dagger {wanted} (env DAGGER_VERSION) but PATH has {found}: "
            "dagger-for-github would download it; the two must agree"
        )
    return env


def _dagger(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - the project's dagger, first on env's PATH
            ["dagger", *args],  # noqa: S607
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 1, "", "no answer in 120 s")


def workflow_dagger_version() -> str:
    """The workflow's DAGGER_VERSION as dagger-for-github compares it: with a leading v."""
    found = re.search(r"^\s*DAGGER_VERSION:\s*[\"']?v?([^\"'\s]+)", WORKFLOW.read_text(), re.M)
    if found is None:
        raise WorkflowError(f"{WORKFLOW} sets no DAGGER_VERSION")
    return f"v{found.group(1)}"


def act_command(
    act: Path,
    event: Event,
    run_dir: Path,
    workspaces: Path,
    actions: dict[str, Path],
    extra: list[str],
) -> list[str]:
    """act's command line; `workspaces`: where act copies the checkout and writes each step's
    script, which it hands to bash unquoted, so that path must hold no space."""
    command = [
        str(act),
        event,
        "--workflows",
        str(WORKFLOW),
        "--directory",
        str(REPO_ROOT),
        "--eventpath",
        str(run_dir / "event.json"),
        "--defaultbranch",
        DEFAULT_BRANCH,
        "-P",
        "ubuntu-latest=-self-hosted",
        "--artifact-server-path",
        str(run_dir / "artifacts"),
        "--artifact-server-addr",
        LOOPBACK,
        "--artifact-server-port",
        str(free_port(LOOPBACK)),
        "--no-cache-server",
        "--action-cache-path",
        str(workspaces),
        "--json",
        "--verbose",
    ]
    for uses, path in sorted(actions.items()):
        command += ["--local-repository", f"{uses}={path}"]
    return command + extra


def _records(lines: Iterable[str], raw_log: IO[str] | None) -> Iterator[dict[str, Any]]:
    """act's JSON log records, each line copied to raw_log on the way."""
    for line in lines:
        if raw_log is not None:
            raw_log.write(line)
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            yield record


def follow(lines: Iterable[str], raw_log: IO[str], progress: Progress) -> list[JobRun]:
    """Track each job from act's JSON log: first line seen = start, `jobResult` = end."""
    jobs: dict[tuple[str, str], JobRun] = {}
    for record in _records(lines, raw_log):
        job_id = record.get("jobID")
        if not job_id:
            continue
        # "job" is "<workflow name>/<job name>", padded to a common width.
        name = str(record.get("job", job_id)).strip().split("/", 1)[-1]
        key = (job_id, json.dumps(record.get("matrix"), sort_keys=True))
        job = jobs.get(key)
        if job is None:
            job = jobs[key] = JobRun(job_id=job_id, name=name)
            progress(f"▶ {job.name}")
        step_result = record.get("stepResult")
        # Top-level steps of the job (composite actions' inner steps carry longer stepIDs).
        if step_result and record.get("stage") == "Main" and len(record.get("stepID", ())) == 1:
            job.steps.append((str(record.get("step")), str(step_result)))
        result = record.get("jobResult")
        if result and job.result == "running":
            job.result = result
            job.seconds = time.monotonic() - job.started
            progress(f"{'✓' if result == 'success' else '·' if result == 'skipped' else '✗'} "
                     f"{job.name}: {result} ({job.seconds:.0f} s)")  # fmt: skip
    return list(jobs.values())


def new_run_dir(event: Event, label: str = "") -> Path:
    """var/workflow/EVENT[-LABEL]-TIME in the checkout: kept after the run (var/ is ignored by
    git and by the pipeline's source), unlike a test's temporary directory."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return REPO_ROOT / "var" / "workflow" / "-".join(filter(None, [event, label, stamp]))


def run_workflow(
    event: Event,
    run_dir: Path,
    progress: Progress,
    extra: list[str] | None = None,
) -> WorkflowRun:
    """Install what is missing, then run the whole workflow for event with act."""
    run_dir.mkdir(parents=True, exist_ok=True)
    install_log = run_dir / "install.log"
    # The long installs run while the engine is checked; they need no engine.
    with ThreadPoolExecutor(max_workers=2) as pool:
        act_future = pool.submit(install_act, install_log, progress)
        actions_future = pool.submit(install_actions, install_log, progress)
        try:
            env = dagger_environment()
        except WorkflowError:
            progress("no engine to run the workflow; finishing the installs (cached) first")
            raise
        act, actions = act_future.result(), actions_future.result()
    if not actions:
        progress("no vendor folder: act fetches the actions itself")
    (run_dir / "event.json").write_text(json.dumps(event_payload(event), indent=2))
    if event == "push":
        progress(NO_APPROVAL_NOTE)
    progress(f"act {event} → {WORKFLOW.relative_to(REPO_ROOT)} (log: {run_dir / 'act.log'})")
    started = time.monotonic()
    # Not under the checkout, whose path may hold a space; gone after the run (GBs of copies).
    with tempfile.TemporaryDirectory(prefix="swarm-act-", ignore_cleanup_errors=True) as workspaces:
        if " " in workspaces:
            raise WorkflowError(
                f"act cannot run steps from {workspaces}: set TMPDIR without spaces"
            )
        command = act_command(act, event, run_dir, Path(workspaces), actions, extra or [])
        with (
            (run_dir / "act.log").open("w") as raw_log,
            subprocess.Popen(  # noqa: S603 - the act binary installed above
                command,
                cwd=REPO_ROOT,
                # Plain text in the log: no colour codes and no Dagger Cloud nag in each step.
                env={**env, "NO_COLOR": "1", "DAGGER_NO_NAG": "1"},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ) as act_process,
        ):
            assert act_process.stdout is not None
            jobs = follow(iter(act_process.stdout.readline, ""), raw_log, progress)
    run = WorkflowRun(
        event=event,
        returncode=act_process.returncode,
        seconds=time.monotonic() - started,
        run_dir=run_dir,
        jobs=jobs,
    )
    (run_dir / "results.json").write_text(
        json.dumps(
            {
                "event": event,
                "returncode": run.returncode,
                "seconds": round(run.seconds, 1),
                "jobs": [
                    {"id": j.job_id, "name": j.name, "result": j.result, "seconds": j.seconds}
                    for j in jobs
                ],
            },
            indent=2,
        )
    )
    return run
