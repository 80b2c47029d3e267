"""The app factory: `uvicorn app.main:create_app --factory`."""

import asyncio
import gc
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI, Request, Response
from pydantic import SecretStr

from app.api.deps import Services
from app.api.errors import install_error_handlers
from app.api.main import api_router
from app.api.routes import health
from app.core.config import Settings
from app.core.limits import BodySizeLimit
from app.core.security import KeyRing
from app.core.stopping import on_stop_signal
from app.core.telemetry import fastapi_telemetry, tracer_provider
from app.services.queue import QueueSignal
from app.services.reaper import reap_forever
from app.store import open_store, queue_caps
from contract.keys import ApiKey, Role

log = logging.getLogger("hypercode")


def _keys(settings: Settings) -> list[ApiKey]:
    if not settings.dev_mode:
        return settings.api_keys
    dev_key = secrets.token_urlsafe(24)
    # The key is logged on purpose: dev mode exists to hand a local user one key.
    log.warning("HYPERCODE_DEV_MODE: a key with every role for this run: %s", dev_key)
    return [*settings.api_keys, ApiKey(name="dev", key=SecretStr(dev_key), roles=list(Role))]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    provider = tracer_provider()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await open_store(settings.database_url)
        signal = QueueSignal()
        caps = queue_caps(settings.max_queued_tasks, settings.max_queued_tasks_per_client)
        keys = KeyRing(_keys(settings))
        app.state.services = Services(settings, store, signal, keys, provider, caps)
        reaper = asyncio.create_task(reap_forever(store, signal, settings.reaper_interval_s))
        # What import and startup built (modules, routes, pydantic schemas: most of the heap)
        # lives as long as the process; frozen, the collector stops walking it again in
        # every full collection, ≈ 10 % of a request's CPU (docs/benchmarks.md).
        gc.freeze()
        log.info("hypercode-core ready on %s", store.dialect.name)
        try:
            with on_stop_signal(signal.close):  # lease polls answer now, not after their wait_s
                yield
        finally:
            reaper.cancel()
            with suppress(asyncio.CancelledError):
                await reaper
            await store.close()
            if provider is not None:
                provider.shutdown()

    app = FastAPI(
        title="hypercode-core",
        version="1.0.0",
        summary="Durable task execution for AI coding agents",
        lifespan=lifespan,
        telemetry=fastapi_telemetry(provider),
    )
    install_error_handlers(app)
    app.include_router(api_router)
    app.include_router(health.router)
    if settings.test_latency_ms:
        _inject_latency(app, settings.test_latency_ms / 1000)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    return app


def _inject_latency(app: FastAPI, seconds: float) -> None:
    @app.middleware("http")
    async def slow_down(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path.startswith("/api/v1"):
            await asyncio.sleep(seconds)
        return await call_next(request)
