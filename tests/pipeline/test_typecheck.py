"""The Dagger module type-checks under mypy --strict against the pinned dagger-io SDK."""

import pytest

from .tools import ROOT, VENV_BIN, run


@pytest.mark.slow
def test_pipeline_module_passes_mypy_strict() -> None:
    checked = run(
        VENV_BIN / "mypy", "--config-file", ROOT / "pipeline" / "pyproject.toml",
        ROOT / "pipeline" / "src",
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout
    assert "Success: no issues found" in checked.stdout
