"""OpenTelemetry for the core: configured by the standard OTEL_* environment variables.

- OTEL_SDK_DISABLED=true: no tracing at all; OTEL_TRACES_EXPORTER=none: spans, no export.
- OTEL_SERVICE_NAME (default hypercode-core), OTEL_RESOURCE_ATTRIBUTES.
- OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (default parentbased_always_on).
  parentbased_traceidratio keeps every trace a caller chose to sample and only a share of
  the new ones: the setting for heavy load (docs/benchmarks.md).
- OTEL_EXPORTER_OTLP_* and OTEL_BSP_*, read by the exporter and the batch processor.
- OTEL_PROPAGATORS (default tracecontext,baggage): how a caller's trace context is read,
  with tracing on or off; a task keeps it in W3C form for its agent.

The app factory builds the provider with `tracer_provider()` and hands
`fastapi_telemetry(provider)` to `FastAPI(telemetry=...)`: FastAPI's own telemetry makes one
server span per request. Spans leave through a BatchSpanProcessor, so an unreachable
collector costs a background thread, never a request; at shutdown the final flush gets
SHUTDOWN_GRACE_S, not more.
"""

import os
import random
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVICE = "hypercode-core"
# A dead or silent collector would otherwise hold the process's exit for 30 s or more
# (every queued batch waits out the export timeout), past most orchestrators' grace period.
SHUTDOWN_GRACE_S = 3.0
RATIO_SAMPLER = "parentbased_traceidratio"


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


def new_trace_ratio() -> float:
    """Share of new traces to record, from the standard sampler variables (1.0 = all)."""
    if os.environ.get("OTEL_TRACES_SAMPLER", "").strip().lower() != RATIO_SAMPLER:
        return 1.0
    try:
        ratio = float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    except ValueError:
        return 1.0  # what the SDK falls back to for a malformed ratio
    return min(max(ratio, 0.0), 1.0)


def tracer_provider() -> TracerProvider | None:
    """The core's TracerProvider, exporting over OTLP; None when tracing is disabled.

    New traces are chosen by fastapi_telemetry()'s `exclude` hook, so the SDK records what
    passes it.
    """
    if not tracing_enabled():
        return None
    # An explicit service.name would override OTEL_SERVICE_NAME, so pass it only as default.
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or SERVICE})
    # A caller's sampled flag is followed either way.
    sampler = ParentBased(ALWAYS_ON) if new_trace_ratio() < 1.0 else None
    provider = TracerProvider(resource=resource, sampler=sampler)
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower() != "none":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BoundedShutdownSpanProcessor(OTLPSpanExporter()))
    return provider


def unsampled_new_trace(ratio: float) -> Callable[[MutableMapping[str, Any]], bool]:
    """FastAPI's `exclude` hook: skip all telemetry work for new traces not sampled.

    The SDK's own ratio sampler decides only after FastAPI has extracted the context,
    built the attributes and started a (non-recording) span: most of the cost. Deciding
    here makes an unsampled request cost one random number.
    """

    def exclude(scope: MutableMapping[str, Any]) -> bool:
        if any(name == b"traceparent" for name, _ in scope.get("headers", ())):
            return False  # part of a caller's trace: its sampled flag decides
        return random.random() >= ratio  # noqa: S311 (sampling, not security) # nosec B311

    return exclude


def fastapi_telemetry(provider: TracerProvider | None) -> TelemetryConfig:
    """Settings for `FastAPI(telemetry=...)`: one server span per request, nothing else.

    No operation spans (dependencies, serialization: several spans a request), no HTTP
    metrics or logs (the core has no pipeline for them), and never the global providers.
    """
    if provider is None:
        return {"tracing": False, "metrics": False, "logs": False}
    ratio = new_trace_ratio()
    return {
        "tracer_provider": provider,
        "metrics": False,
        "logs": False,
        "operation_spans": False,
        "exclude": unsampled_new_trace(ratio) if ratio < 1.0 else None,
    }


def tracer(provider: TracerProvider | None) -> trace.Tracer:
    return (provider or trace.NoOpTracerProvider()).get_tracer(SERVICE)


# The form a task's trace context is stored and leased in (the wire field `traceparent`);
# what callers send is read with the configured propagators (OTEL_PROPAGATORS).
_STORED_FORM = TraceContextTextMapPropagator()


def current_traceparent(headers: Mapping[str, str]) -> str | None:
    """The W3C traceparent to store with a task, so the agent that runs it joins this trace.

    With tracing on, that is the current server span; with it off, the caller's own context,
    as the configured propagators read it from the headers, so client and agent still share
    a trace.
    """
    span = trace.get_current_span()
    if not span.get_span_context().is_valid:
        if not any(field in headers for field in propagate.get_global_textmap().fields):
            return None  # no caller context either: skip extracting and injecting nothing
        span = trace.get_current_span(propagate.extract(headers))
    carrier: dict[str, str] = {}
    _STORED_FORM.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


@contextmanager
def task_span(
    provider: TracerProvider | None, name: str, traceparent: str | None, **attributes: str | int
) -> Iterator[None]:
    """A span in the task's own trace (the submitter's), linked to the current request."""
    parent = _STORED_FORM.extract({"traceparent": traceparent}) if traceparent else None
    links = [trace.Link(trace.get_current_span().get_span_context())]
    with tracer(provider).start_as_current_span(
        name, context=parent, kind=trace.SpanKind.CONSUMER, links=links, attributes=attributes
    ):
        yield
