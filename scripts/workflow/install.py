"""Install act and the GitHub Actions the workflow uses, once, into ~/.cache/swarm.

act comes from the Go module proxy (`go install`). The actions come from the vendor folder
(`$SWARM_VENDOR_DIR/actions`, default `<repo>/../shared/vendor`) when it exists: each
tarball is unpacked and, for the two artifact actions that ship without `dist/`, built with
npm the way their own release scripts do. Each result is cached in a directory named after
the tarball's checksum, written under a temporary name and renamed when complete, so a
broken build is never reused and a changed tarball is rebuilt. Without the vendor folder
(a machine with internet access) act fetches the actions itself and nothing is built here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ACT_VERSION = "v0.2.89"
# Go builds act; Debian's golang package or the official tarball both work.
GO_DIRS = ("/usr/local/go/bin",)


class InstallError(RuntimeError):
    """A tool needed to run the workflow could not be installed."""


def cache_dir() -> Path:
    return Path(os.environ.get("SWARM_CACHE_DIR", Path.home() / ".cache" / "swarm"))


def git(*args: str) -> str:
    """Output of a git command in this checkout."""
    done = subprocess.run(  # noqa: S603 - fixed git commands
        ["git", *args],  # noqa: S607 - git from PATH, as every developer runs it
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def vendor_dir() -> Path:
    """$SWARM_VENDOR_DIR, else shared/vendor beside the checkout (or beside the main
    checkout, for a git worktree); the first candidate when none exists."""
    if "SWARM_VENDOR_DIR" in os.environ:
        return Path(os.environ["SWARM_VENDOR_DIR"])
    checkouts = [
        REPO_ROOT,
        Path(git("rev-parse", "--path-format=absolute", "--git-common-dir")).parent,
    ]
    candidates = [checkout.parent / "shared" / "vendor" for checkout in checkouts]
    return next((path for path in candidates if path.is_dir()), candidates[0])


@dataclass(frozen=True)
class VendoredAction:
    """One action of the workflow as the vendor folder holds it."""

    uses: str  # as written in the workflow: owner/name@ref
    tarball: str
    build: tuple[tuple[str, ...], ...] = ()  # npm commands that make its dist/


VENDORED_ACTIONS = (
    VendoredAction("actions/checkout@v5", "checkout-v5.tar.gz"),
    VendoredAction("dagger/dagger-for-github@v8", "dagger-for-github-v8.4.1.tar.gz"),
    VendoredAction(
        "actions/upload-artifact@v4",
        "upload-artifact-v4-src.tar.gz",
        build=(("npm", "ci"), ("npm", "run", "release")),
    ),
    VendoredAction(
        "actions/download-artifact@v4",
        "download-artifact-v4-src.tar.gz",
        build=(("npm", "ci"), ("npx", "ncc", "build", "src/download-artifact.ts", "-o", "dist")),
    ),
)


def _run_logged(
    command: list[str], log: Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> None:
    """Run a long build at low priority, its output appended to log; fail with the log's path."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *GO_DIRS])
    env = {**os.environ, "PATH": path, **(env or {})}
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(  # noqa: S603 - fixed build commands
            ["nice", "-n", "10", *command],  # noqa: S607 - nice and the build tools from PATH
            cwd=cwd,
            stdout=out,
            stderr=out,
            env=env,
            check=False,
        )
    if done.returncode != 0:
        raise InstallError(f"{' '.join(command)} failed ({done.returncode}); see {log}")


def _publish(partial: Path, final: Path) -> None:
    """Make a finished build visible under its final name (another run may have won)."""
    try:
        partial.rename(final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(partial)


def act_binary() -> Path:
    return cache_dir() / "act" / ACT_VERSION / "act"


def install_act(log: Path, progress: Callable[[str], None]) -> Path:
    """The cached act binary of ACT_VERSION, built with `go install` if missing (~1-3 min)."""
    binary = act_binary()
    if binary.is_file():
        return binary
    progress(f"installing act {ACT_VERSION} with go install (once, ~1-3 min; log: {log})")
    if not any(shutil.which("go", path=d) for d in (os.environ.get("PATH", ""), *GO_DIRS)):
        raise InstallError("act is built with Go: install Go (>= 1.24) first")
    partial = binary.parent.with_name(f".partial-{ACT_VERSION}-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _run_logged(
        ["go", "install", f"github.com/nektos/act@{ACT_VERSION}"],
        log,
        env={"GOBIN": str(partial), "CGO_ENABLED": "0"},
    )
    _publish(partial, binary.parent)
    return binary


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_action(
    action: VendoredAction, vendor: Path, log: Path, progress: Callable[[str], None]
) -> Path:
    """The unpacked (and built) action, cached by its tarball's checksum."""
    tarball = vendor / "actions" / action.tarball
    if not tarball.is_file():
        raise InstallError(f"{tarball} is missing (the vendor folder has no {action.uses})")
    stem = action.tarball.removesuffix(".tar.gz")
    final = cache_dir() / "actions" / f"{stem}-{_sha256(tarball)[:16]}"
    if final.is_dir():
        return final
    if action.build and shutil.which("npm") is None:
        raise InstallError(f"{action.uses} is built with npm: install Node.js and npm first")
    scratch = final.with_name(f".partial-{final.name}-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        # Every archive has one top-level directory (git archive --prefix).
        archive.extractall(scratch, filter="data")
    (unpacked,) = scratch.iterdir()
    if action.build:
        progress(f"building {action.uses} with npm (once, ~1-2 min; log: {log})")
    for command in action.build:
        _run_logged(list(command), log, cwd=unpacked)
    _publish(unpacked, final)
    shutil.rmtree(scratch)
    return final


def install_actions(log: Path, progress: Callable[[str], None]) -> dict[str, Path]:
    """Every vendored action by its `uses:` name; empty when there is no vendor folder."""
    vendor = vendor_dir()
    if not (vendor / "actions").is_dir():
        return {}
    return {
        action.uses: install_action(action, vendor, log, progress) for action in VENDORED_ACTIONS
    }
