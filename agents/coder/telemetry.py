"""OpenTelemetry set-up for the agent and its tool server, driven by the standard OTEL_* variables.

`OTEL_SDK_DISABLED=true` leaves the no-op tracer in place; otherwise spans go through a
BatchSpanProcessor to the OTLP gRPC exporter (`OTEL_EXPORTER_OTLP_ENDPOINT`), so a slow or
missing collector never blocks task work.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.environment_variables import OTEL_SDK_DISABLED, OTEL_SERVICE_NAME
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

AGENT_SERVICE_NAME = "coder-agent"
TOOLS_SERVICE_NAME = "coder-tools"


def tracing_enabled() -> bool:
    return os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() != "true"


def setup_tracing(default_service_name: str, processor: SpanProcessor | None = None) -> None:
    """Install a TracerProvider for this process unless the SDK is disabled.

    `processor` replaces the OTLP exporter (tests pass an in-memory one).
    """
    if not tracing_enabled():
        return
    # OTEL_SERVICE_NAME still wins, so one image can run under several names.
    service_name = os.environ.get(OTEL_SERVICE_NAME) or default_service_name
    resource = Resource.create({"service.name": service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor or BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def shutdown_tracing() -> None:
    """Flush pending spans before the process exits."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def context_from_traceparent(traceparent: str | None) -> Context | None:
    """The remote parent a task's `traceparent` names, or None to start a new trace."""
    if not traceparent:
        return None
    context = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context
