"""Benchmark harness: run the core as if app/main.py passed fastapi_telemetry() to FastAPI().

Put this directory on PYTHONPATH of the core process (bench_tracing.py --native does).
FastAPI merges `telemetry=` into `app._telemetry`, the dict its native telemetry reads, so
updating that dict after construction is what the constructor argument would have done.
Delete this directory once app/main.py builds the app with fastapi_telemetry().
"""

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

import app.core.telemetry as telemetry


def _native_tracing(app: FastAPI) -> TracerProvider | None:
    provider = telemetry.tracer_provider()
    app._telemetry.update(telemetry.fastapi_telemetry(provider))
    return provider


telemetry.setup_tracing = _native_tracing
