"""Fixtures for the tracing tests: a real Jaeger and an OpenTelemetry client process.

The test process plays the client: it has its own TracerProvider (service
`swarm-client`) exporting OTLP to the test Jaeger, so a task's trace starts here.
"""

from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from harness.jaeger import JaegerProcess

CLIENT_SERVICE = "swarm-client"


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JaegerProcess]:
    with JaegerProcess(tmp_path_factory.mktemp("jaeger")) as running:
        yield running


def client_provider(jaeger: JaegerProcess) -> TracerProvider:
    """A TracerProvider of the test process; not global, so nothing else in pytest uses it."""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: CLIENT_SERVICE}))
    # Simple (synchronous) export: the client span is in Jaeger when the `with` block ends.
    exporter = OTLPSpanExporter(endpoint=jaeger.otlp_grpc_endpoint, insecure=True)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture
def client_tracing(jaeger: JaegerProcess) -> Iterator[TracerProvider]:
    provider = client_provider(jaeger)
    yield provider
    provider.shutdown()
