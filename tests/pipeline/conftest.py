"""The pipeline module lives in pipeline/src (Dagger's layout), outside the root package."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "pipeline" / "src"))
