"""Headless Chromium (Debian's `chromium`, installed by scripts/bootstrap.sh) for pages of
our own local services: the DOM after the page's scripts ran, or a screenshot of it.

    python -m harness.browser URL --screenshot docs/jaeger-trace.png
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

# Virtual time the page gets to fetch its data and render (Chromium waits on its requests).
RENDER_BUDGET_MS = 20_000
WINDOW = (1400, 900)


class BrowserError(RuntimeError):
    """Chromium is missing or could not render the page."""


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        raise BrowserError("no `chromium` on PATH: scripts/bootstrap.sh installs Debian's package")
    return found


def _headless(url: str, *action: str, window: tuple[int, int] = WINDOW) -> str:
    with tempfile.TemporaryDirectory(prefix="swarm-chromium-") as profile:
        command = [
            chromium(),
            "--headless",
            # Chromium's sandbox refuses to run as root (containers, CI); the pages are ours.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--window-size={window[0]},{window[1]}",
            f"--virtual-time-budget={RENDER_BUDGET_MS}",
            *action,
            url,
        ]
        try:
            done = subprocess.run(  # noqa: S603 - fixed argv, no shell
                command, capture_output=True, text=True, timeout=120, check=True
            )
        except subprocess.CalledProcessError as error:
            raise BrowserError(f"chromium failed on {url}: {error.stderr[-2000:]}") from error
        except subprocess.TimeoutExpired as error:
            raise BrowserError(f"chromium did not finish {url} in 120 s") from error
        return done.stdout


def rendered_dom(url: str) -> str:
    """The page's DOM once its scripts have rendered it (what a user would see, as HTML)."""
    return _headless(url, "--dump-dom")


def screenshot(url: str, path: Path, *, window: tuple[int, int] = WINDOW) -> Path:
    """A PNG of the rendered page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _headless(url, f"--screenshot={path.resolve()}", "--hide-scrollbars", window=window)
    if not path.is_file():
        raise BrowserError(f"chromium wrote no screenshot of {url}")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--screenshot", type=Path, required=True, help="PNG to write")
    parser.add_argument("--width", type=int, default=WINDOW[0])
    parser.add_argument("--height", type=int, default=WINDOW[1])
    args = parser.parse_args(argv)
    screenshot(args.url, args.screenshot, window=(args.width, args.height))


if __name__ == "__main__":
    main()
