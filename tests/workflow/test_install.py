"""act and the workflow's actions install from the Go module proxy and the vendor folder,
once: the cache is keyed by each tarball's checksum."""

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from scripts.workflow.install import (
    ACT_VERSION,
    VENDORED_ACTIONS,
    install_act,
    install_action,
    install_actions,
    vendor_dir,
)
from scripts.workflow.run import WORKFLOW

pytestmark = pytest.mark.host  # reads ../shared/vendor and this checkout's git

# What each action runs (its action.yml `main`/`post`), which the build must have produced.
ENTRY_POINTS = {
    "actions/checkout@v5": ["dist/index.js"],
    "dagger/dagger-for-github@v8": ["action.yml"],
    "actions/upload-artifact@v4": ["dist/upload/index.js", "dist/merge/index.js"],
    "actions/download-artifact@v4": ["dist/index.js"],
}


def _no_progress(line: str) -> None:
    raise AssertionError(f"a cached install reported work: {line}")


@pytest.mark.slow
def test_act_installs_once_at_the_pinned_version(tmp_path: Path) -> None:
    act = install_act(tmp_path / "install.log", print)
    again = install_act(tmp_path / "again.log", _no_progress)

    version = subprocess.run([act, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"act version {ACT_VERSION.removeprefix('v')}"
    assert again == act
    assert not (tmp_path / "again.log").exists()


@pytest.mark.slow
def test_every_action_of_the_workflow_is_installed_with_its_bundle(tmp_path: Path) -> None:
    installed = install_actions(tmp_path / "install.log", print)
    again = install_actions(tmp_path / "again.log", _no_progress)

    used = {line.split("uses:", 1)[1].strip() for line in WORKFLOW.read_text().splitlines()
            if "uses:" in line}  # fmt: skip
    assert used <= set(installed), used - set(installed)
    for uses, files in ENTRY_POINTS.items():
        missing = [name for name in files if not (installed[uses] / name).is_file()]
        assert not missing, f"{uses}: {missing}"
    assert again == installed


def test_a_changed_tarball_is_unpacked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dagger_action = next(a for a in VENDORED_ACTIONS if a.uses.startswith("dagger/"))
    original = vendor_dir() / "actions" / dagger_action.tarball
    changed_vendor = tmp_path / "vendor"
    (changed_vendor / "actions").mkdir(parents=True)
    with (
        tarfile.open(original) as source,
        tarfile.open(changed_vendor / "actions" / dagger_action.tarball, "w:gz") as changed,
    ):
        for member in source.getmembers():
            data = source.extractfile(member) if member.isfile() else None
            if member.name.endswith("/action.yml"):
                text = data.read() + b"# changed\n" if data else b""
                member.size = len(text)
                data = None
                changed.addfile(member, io.BytesIO(text))
            else:
                changed.addfile(member, data)
    monkeypatch.setenv("SWARM_CACHE_DIR", str(tmp_path / "cache"))

    first = install_action(dagger_action, vendor_dir(), tmp_path / "log", _no_progress)
    second = install_action(dagger_action, changed_vendor, tmp_path / "log", _no_progress)

    assert first != second
    assert first.parent == second.parent == tmp_path / "cache" / "actions"
    assert (second / "action.yml").read_text().endswith("# changed\n")
    assert not (first / "action.yml").read_text().endswith("# changed\n")
    assert sorted(p.name for p in second.parent.iterdir()) == sorted([first.name, second.name])
