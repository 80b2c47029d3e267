"""Knowing at once that the server was told to stop.

uvicorn lets the requests in flight finish before it runs the lifespan's shutdown, and tells
the app nothing meanwhile: a lease long poll would hold a stopping core for its whole wait_s
(up to 30 s, the length of many orchestrators' grace period). So the core puts a step of its
own in front of the server's SIGTERM and SIGINT handlers; the server's handling then follows
unchanged.
"""

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def on_stop_signal(callback: Callable[[], None]) -> Iterator[None]:
    """While inside, a stop signal first schedules callback on this event loop.

    Only in front of a handler a server installed: a signal left at its default (or ignored)
    keeps it, and outside the main thread (an app run in a test's thread) signals are not
    ours to take.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous = {
        signum: handler for signum in STOP_SIGNALS if callable(handler := signal.getsignal(signum))
    }

    def chained(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        previous[signal.Signals(signum)](signum, frame)

    for signum in previous:
        signal.signal(signum, chained)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if signal.getsignal(signum) is chained:  # else someone else's now: leave it
                signal.signal(signum, handler)
