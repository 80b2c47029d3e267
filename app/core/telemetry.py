"""OpenTelemetry for the core: configured by the standard OTEL_* environment variables.

- OTEL_SDK_DISABLED=true: no tracing at all; OTEL_TRACES_EXPORTER=none: spans, no export.
- OTEL_SERVICE_NAME (default hypercode-core), OTEL_RESOURCE_ATTRIBUTES.
- OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, read by the SDK (default
  parentbased_always_on). parentbased_traceidratio keeps every trace a caller chose to
  sample and only a share of the others: the cheap setting for heavy load.
- OTEL_EXPORTER_OTLP_* and OTEL_BSP_*, read by the exporter and the batch processor.

Spans leave through a BatchSpanProcessor, so an unreachable collector costs a background
thread, never a request; at shutdown the final flush gets SHUTDOWN_GRACE_S, not more.
"""

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVICE = "hypercode-core"
# A dead or silent collector would otherwise hold the process's exit for 30 s or more
# (every queued batch waits out the export timeout), past most orchestrators' grace period.
SHUTDOWN_GRACE_S = 3.0


def tracing_enabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").lower() != "true"


class BoundedShutdownSpanProcessor(BatchSpanProcessor):
    """A BatchSpanProcessor whose shutdown gives up on the collector after SHUTDOWN_GRACE_S."""

    def shutdown(self) -> None:
        flush = threading.Thread(target=super().shutdown, name="otel-final-flush", daemon=True)
        flush.start()
        flush.join(SHUTDOWN_GRACE_S)
        if flush.is_alive():
            # Closes the gRPC channel: the export in flight fails at once, the rest is dropped.
            self.span_exporter.shutdown()
            flush.join(SHUTDOWN_GRACE_S)


def setup_tracing(app: FastAPI) -> TracerProvider | None:
    """Instrument the app; returns the provider to shut down at exit, or None when disabled."""
    if not tracing_enabled():
        return None
    # An explicit service.name would override OTEL_SERVICE_NAME, so pass it only as default.
    service = os.environ.get("OTEL_SERVICE_NAME") or SERVICE
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower() != "none":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BoundedShutdownSpanProcessor(OTLPSpanExporter()))
    # One span per request: the per-message receive/send spans double the cost and say
    # nothing a reader needs, and the core has no metrics pipeline for the HTTP histograms.
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        meter_provider=NoOpMeterProvider(),
        exclude_spans=["receive", "send"],
    )
    return provider


def tracer(provider: TracerProvider | None) -> trace.Tracer:
    return (provider or trace.NoOpTracerProvider()).get_tracer(SERVICE)


_propagator = TraceContextTextMapPropagator()


def current_traceparent(incoming: str | None) -> str | None:
    """The W3C traceparent to store with a task, so the agent that runs it joins this trace.

    With tracing on, that is the current server span; with it off, the caller's own header
    is passed on unchanged, so client and agent still share a trace.
    """
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    if "traceparent" in carrier:
        return carrier["traceparent"]
    if incoming and _propagator.extract({"traceparent": incoming}) != {}:
        return incoming
    return None


@contextmanager
def task_span(
    provider: TracerProvider | None, name: str, traceparent: str | None, **attributes: str | int
) -> Iterator[None]:
    """A span in the task's own trace (the submitter's), linked to the current request."""
    parent = _propagator.extract({"traceparent": traceparent}) if traceparent else None
    links = [trace.Link(trace.get_current_span().get_span_context())]
    with tracer(provider).start_as_current_span(
        name, context=parent, kind=trace.SpanKind.CONSUMER, links=links, attributes=attributes
    ):
        yield
