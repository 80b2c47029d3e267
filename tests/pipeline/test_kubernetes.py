"""deploy/k8s's environments rendered with kustomize and applied with kubectl in client dry-run.

A client-side dry run still asks an API server for discovery and for each object, so the
tests (like the pipeline's deploy stage) run kubectl against pipeline's stub API server.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from swarm_pipeline.manifests import (
    ENVIRONMENTS,
    environment_overlay,
    image_overlay,
    release_refs,
    rendered_images,
)

from harness.service import Command, free_port

from .tools import PIPELINE_SRC, ROOT, VENV_BIN, run

KUBECTL = VENV_BIN / "kubectl"


@pytest.fixture(scope="module")
def kube_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stub = Command(
        [sys.executable, PIPELINE_SRC / "stub_apiserver.py", "--port", str(port)],
        log_path=tmp_path_factory.mktemp("kube-api") / "stub_apiserver.log",
        ready_url=f"{url}/version",
    )
    with stub:
        yield url


def render(overlay_dir: Path, tag: str, registry: str = "", environment: str = "staging") -> str:
    """What the pipeline's deploy renders: the environment's overlay with the release's images."""
    k8s_root = os.path.relpath(ROOT / "deploy" / "k8s", overlay_dir)
    overlay = image_overlay(environment_overlay(k8s_root, environment), release_refs(tag, registry))
    (overlay_dir / "kustomization.yaml").write_text(overlay)
    rendered = run(KUBECTL, "kustomize", overlay_dir)
    assert rendered.returncode == 0, rendered.stderr
    return rendered.stdout


def objects(rendered: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(rendered)}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return first


def dry_run_apply(kube_api: str, manifest: Path) -> subprocess.CompletedProcess[str]:
    return run(
        KUBECTL, f"--server={kube_api}", "apply", "--dry-run=client", "--validate=false",
        "-f", manifest, env={**os.environ, "KUBECONFIG": os.devnull},
    )  # fmt: skip


def test_release_images_replace_the_placeholders(tmp_path: Path) -> None:
    rendered = render(tmp_path, "abc123", "reg.local:5000/swarm")
    assert rendered_images(rendered) == [
        "jaegertracing/jaeger:2.13.0",
        "reg.local:5000/swarm/hypercode-agent:abc123",
        "reg.local:5000/swarm/hypercode-core:abc123",
    ]
    assert ":dev" not in rendered


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_object_lands_in_the_environments_namespace(tmp_path: Path, environment: str) -> None:
    rendered = objects(render(tmp_path, "abc123", environment=environment))
    namespace = f"swarm-{environment}"
    assert ("Namespace", namespace) in rendered
    for (kind, name), body in rendered.items():
        labels = body["metadata"]["labels"]
        assert labels["app.kubernetes.io/environment"] == environment, (kind, name)
        if kind != "Namespace":
            assert body["metadata"]["namespace"] == namespace, (kind, name)


def test_staging_and_production_differ_in_size_not_in_what_runs(tmp_path: Path) -> None:
    (tmp_path / "staging").mkdir()
    (tmp_path / "production").mkdir()
    staging = objects(render(tmp_path / "staging", "candidate", environment="staging"))
    production = objects(render(tmp_path / "production", "released", environment="production"))
    agent, core = ("Deployment", "coder-agent"), ("Deployment", "hypercode-core")
    assert staging[agent]["spec"]["replicas"] == 1
    assert production[agent]["spec"]["replicas"] == 3
    assert staging[core]["spec"]["replicas"] == production[core]["spec"]["replicas"] == 1
    staging_cpu = container(staging[core])["resources"]["limits"]["cpu"]
    production_cpu = container(production[core])["resources"]["limits"]["cpu"]
    assert (staging_cpu, production_cpu) == ("500m", "2")
    assert container(staging[core])["image"] == "hypercode-core:candidate"
    assert container(production[core])["image"] == "hypercode-core:released"
    # Production alone keeps two agents through a node drain.
    assert set(production) - set(staging) == {
        ("Namespace", "swarm-production"), ("PodDisruptionBudget", "coder-agent"),
    }  # fmt: skip
    assert production[("PodDisruptionBudget", "coder-agent")]["spec"]["minAvailable"] == 2
    # Everything else is the same base: same probes, security contexts and commands.
    for key in set(staging) & set(production) - {("Namespace", "swarm-staging")}:
        if key[0] == "Deployment":
            same = ("securityContext", "readinessProbe", "livenessProbe", "env")
            first, second = container(staging[key]), container(production[key])
            assert {k: first.get(k) for k in same} == {k: second.get(k) for k in same}, key


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(ValueError, match="no environment 'prod'"):
        environment_overlay("deploy/k8s", "prod")


@pytest.mark.parametrize(
    ("environment", "extra"),
    [("staging", []), ("production", ["poddisruptionbudget.policy/coder-agent created (dry run)"])],
)
def test_dry_run_apply_creates_every_object(
    tmp_path: Path, kube_api: str, environment: str, extra: list[str]
) -> None:
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(render(tmp_path, "abc123", environment=environment))
    applied = dry_run_apply(kube_api, manifest)
    assert applied.returncode == 0, applied.stderr
    assert sorted(applied.stdout.splitlines()) == sorted(
        [
            "deployment.apps/coder-agent created (dry run)",
            "deployment.apps/hypercode-core created (dry run)",
            "deployment.apps/jaeger created (dry run)",
            f"namespace/swarm-{environment} created (dry run)",
            "service/hypercode-core created (dry run)",
            "service/jaeger created (dry run)",
            *extra,
        ]
    )


def test_dry_run_apply_rejects_an_unknown_kind(tmp_path: Path, kube_api: str) -> None:
    manifest = tmp_path / "typo.yaml"
    manifest.write_text("apiVersion: apps/v1\nkind: Deploymnet\nmetadata:\n  name: x\n")
    applied = dry_run_apply(kube_api, manifest)
    assert applied.returncode != 0
    assert "Deploymnet" in applied.stderr


def test_stub_api_server_refuses_writes(kube_api: str) -> None:
    response = httpx.post(f"{kube_api}/api/v1/namespaces", json={})
    assert response.status_code == 403
    assert response.json()["kind"] == "Status"
