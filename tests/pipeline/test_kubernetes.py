"""deploy/k8s rendered with kustomize and applied with kubectl in client dry-run.

A client-side dry run still asks an API server for discovery and for each object, so the
tests (like the pipeline's deploy stage) run kubectl against pipeline's stub API server.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from swarm_pipeline.manifests import image_overlay, release_refs

from scripts.stack.service import free_port, wait_until_ready

from .tools import PIPELINE_SRC, ROOT, VENV_BIN, run

KUBECTL = VENV_BIN / "kubectl"


@pytest.fixture(scope="module")
def kube_api() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, PIPELINE_SRC / "stub_apiserver.py", "--port", str(port)],
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/version", server, timeout=10)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def render(overlay_dir: Path, tag: str, registry: str = "") -> str:
    base = os.path.relpath(ROOT / "deploy" / "k8s", overlay_dir)
    (overlay_dir / "kustomization.yaml").write_text(
        image_overlay(base, release_refs(tag, registry))
    )
    rendered = run(KUBECTL, "kustomize", overlay_dir)
    assert rendered.returncode == 0, rendered.stderr
    return rendered.stdout


def dry_run_apply(kube_api: str, manifest: Path) -> subprocess.CompletedProcess[str]:
    return run(
        KUBECTL, f"--server={kube_api}", "apply", "--dry-run=client", "--validate=false",
        "-f", manifest, env={**os.environ, "KUBECONFIG": os.devnull},
    )  # fmt: skip


def test_release_images_replace_the_placeholders(tmp_path: Path) -> None:
    rendered = render(tmp_path, "abc123", "reg.local:5000/swarm")
    assert "image: reg.local:5000/swarm/hypercode-core:abc123" in rendered
    assert "image: reg.local:5000/swarm/hypercode-agent:abc123" in rendered
    assert ":dev" not in rendered


def test_every_object_lands_in_the_swarm_namespace(tmp_path: Path) -> None:
    rendered = render(tmp_path, "abc123")
    namespaced = rendered.count("\n  namespace: swarm\n")
    # Deployments core, agent, jaeger and Services core, jaeger.
    assert namespaced == 5, rendered


def test_dry_run_apply_creates_every_object(tmp_path: Path, kube_api: str) -> None:
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(render(tmp_path, "abc123"))
    applied = dry_run_apply(kube_api, manifest)
    assert applied.returncode == 0, applied.stderr
    assert sorted(applied.stdout.splitlines()) == [
        "deployment.apps/coder-agent created (dry run)",
        "deployment.apps/hypercode-core created (dry run)",
        "deployment.apps/jaeger created (dry run)",
        "namespace/swarm created (dry run)",
        "service/hypercode-core created (dry run)",
        "service/jaeger created (dry run)",
    ]


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
