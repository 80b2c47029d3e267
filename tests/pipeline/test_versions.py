"""One Dagger version everywhere: the module's engine, CI's CLI and the Python SDK."""

import json
import re
import tomllib

import yaml

from .tools import ROOT


def engine_version() -> str:
    """dagger.json: the engine the module needs (and the SDK the engine vendors into it)."""
    version: str = json.loads((ROOT / "dagger.json").read_text())["engineVersion"]
    return version.removeprefix("v")


def workflow_cli_version() -> str:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "swarm-pipeline.yml").read_text())
    return str(workflow["env"]["DAGGER_VERSION"]).removeprefix("v")


def pinned_sdk_version() -> str:
    """The dagger-io pin of the root project's dev group (the SDK of client mode and mypy)."""
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    pins = [req for req in dev if isinstance(req, str) and re.match(r"dagger-io\b", req)]
    assert len(pins) == 1, pins
    name, _, version = pins[0].partition("==")
    assert name == "dagger-io" and version, f"dagger-io must be pinned with ==: {pins[0]}"
    return version


def locked_sdk_version() -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    (version,) = [p["version"] for p in lock["package"] if p["name"] == "dagger-io"]
    return str(version)


def test_engine_cli_and_sdk_are_one_version() -> None:
    versions = {
        "dagger.json engineVersion": engine_version(),
        "workflow DAGGER_VERSION": workflow_cli_version(),
        "pyproject dagger-io": pinned_sdk_version(),
        "uv.lock dagger-io": locked_sdk_version(),
    }
    assert len(set(versions.values())) == 1, versions


def test_the_module_takes_its_sdk_from_the_engine() -> None:
    """pipeline/ pins no SDK of its own: the engine of dagger.json vendors it into ./sdk."""
    module = tomllib.loads((ROOT / "pipeline" / "pyproject.toml").read_text())
    assert module["project"]["dependencies"] == ["dagger-io"]
    assert module["tool"]["uv"]["sources"]["dagger-io"] == {"path": "sdk", "editable": True}
    assert not (ROOT / "pipeline" / "uv.lock").exists()
