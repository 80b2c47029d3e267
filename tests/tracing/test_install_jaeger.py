"""scripts/install-jaeger.sh without the vendor folder: the released UI, else the placeholder.

Each case builds Jaeger into a cache of its own (SWARM_CACHE_DIR), so the shared cache is
never touched; Go's build cache keeps that to a relink. The "release assets" are a small UI
bundle in the published layout (packages/jaeger-ui/build/), served from a file URL: what
the script must embed is whatever the release holds.
"""

import os
import subprocess
import tarfile
from pathlib import Path

import httpx
import pytest

from harness.jaeger import INSTALL_SCRIPT, JaegerProcess

pytestmark = [pytest.mark.slow, pytest.mark.jaeger]

MARKER = "swarm-test-ui-bundle"


def install(tmp_path: Path, assets_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SWARM_CACHE_DIR": str(tmp_path / "cache"),
        "SWARM_VENDOR_DIR": str(tmp_path / "no-vendor"),
        "JAEGER_UI_ASSETS_URL": assets_url,
    }
    return subprocess.run(
        [str(INSTALL_SCRIPT)], env=env, capture_output=True, text=True, timeout=1800, check=True
    )


def released_assets(tmp_path: Path) -> Path:
    build = tmp_path / "release" / "packages" / "jaeger-ui" / "build"
    (build / "static").mkdir(parents=True)
    (build / "index.html").write_text(f"<html><title>{MARKER}</title></html>")
    (build / "static" / "app.js").write_text(f"console.log('{MARKER}');")
    archive = tmp_path / "assets.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "release" / "packages", arcname="packages")
    return archive


def served_page(binary: Path, workdir: Path, path: str = "/") -> str:
    with JaegerProcess(workdir, binary=binary) as jaeger:
        return httpx.get(jaeger.query_url + path).text


def test_released_ui_assets_are_embedded_and_only_the_path_is_printed(tmp_path: Path) -> None:
    assets_url = released_assets(tmp_path).as_uri()
    done = install(tmp_path, assets_url)

    binary = Path(done.stdout.strip())
    assert done.stdout.count("\n") == 1 and binary.is_file(), done.stdout
    assert "-ui-v1.76.0-release-" in str(binary)
    assert "downloading the Jaeger UI v1.76.0 release assets" in done.stderr
    assert MARKER in served_page(binary, tmp_path / "jaeger")
    assert MARKER in served_page(binary, tmp_path / "jaeger", "/static/app.js")
    # Cached: a second run prints the same binary without building.
    again = install(tmp_path, assets_url)
    assert again.stdout == done.stdout
    assert again.stderr == ""


def test_without_any_ui_source_it_says_so_and_serves_the_placeholder(tmp_path: Path) -> None:
    done = install(tmp_path, (tmp_path / "nothing-here.tar.gz").as_uri())

    assert "no Jaeger UI source here" in done.stderr
    assert done.stderr.count("placeholder") == 1
    page = served_page(Path(done.stdout.strip()), tmp_path / "jaeger")
    assert "This is not the Jaeger UI you are looking for" in page
