"""OpenTelemetry for the core: configured by the standard OTEL_* environment variables.

OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none switch export off. Spans leave through a
BatchSpanProcessor, so an unreachable collector costs a background thread, never a request.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVICE = "hypercode-core"


def tracing_enabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").lower() != "true"


def setup_tracing(app: FastAPI) -> TracerProvider | None:
    """Instrument the app; returns the provider to shut down at exit, or None when disabled."""
    if not tracing_enabled():
        return None
    # Resource.create also reads OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES.
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: SERVICE}))
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower() != "none":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    # Per-message receive/send spans double the cost and say nothing a reader needs.
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, exclude_spans=["receive", "send"]
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
