"""Background loop that hands expired leases back to the queue."""

import asyncio
import logging
import time

from app.services.queue import QueueSignal
from app.store.base import Store

log = logging.getLogger(__name__)


async def reap_forever(store: Store, signal: QueueSignal, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            released = await store.reap_expired_leases(time.time())
        except Exception:  # a database hiccup must not end the loop
            log.exception("reaping expired leases failed; retrying in %.1fs", interval)
            continue
        if released:
            log.info("re-queued or failed %d task(s) whose lease expired", released)
            signal.notify()
