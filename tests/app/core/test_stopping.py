import asyncio
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from app.core.stopping import on_stop_signal


@pytest.fixture
def server_handler() -> Iterator[list[str]]:
    """A stand-in for the server's SIGTERM handler; it records each call."""
    calls: list[str] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        calls.append(f"server {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handle)
    yield calls
    signal.signal(signal.SIGTERM, previous)


def test_a_stop_signal_wakes_the_app_and_still_reaches_the_server(
    server_handler: list[str],
) -> None:
    server = signal.getsignal(signal.SIGTERM)

    async def serve() -> None:
        with on_stop_signal(lambda: server_handler.append("app")):
            signal.raise_signal(signal.SIGTERM)
            await asyncio.sleep(0.05)
        assert signal.getsignal(signal.SIGTERM) is server

    asyncio.run(serve())
    assert server_handler == ["server SIGTERM", "app"]


def test_a_signal_at_its_default_is_left_alone() -> None:
    async def serve() -> None:
        with on_stop_signal(lambda: None):
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    asyncio.run(serve())
