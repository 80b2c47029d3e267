"""app/core/telemetry.py in-process: one server span per request, sampling at the door.

A small FastAPI app stands in for the core: what is under test is the telemetry setup
that the core's app factory hands to FastAPI, with the SDK's in-memory exporter.
"""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.core.telemetry import fastapi_telemetry, new_trace_ratio, tracer_provider

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
SAMPLED = {"traceparent": f"00-{CALLER_TRACE}-b7ad6b7169203331-01"}
NOT_SAMPLED = {"traceparent": f"00-{CALLER_TRACE}-b7ad6b7169203331-00"}


@pytest.fixture(autouse=True)
def no_export(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "false")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")


def traced_app(provider: TracerProvider) -> FastAPI:
    app = FastAPI(telemetry=fastapi_telemetry(provider))

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


def client_for(spans: InMemorySpanExporter) -> TestClient:
    provider = tracer_provider()
    assert provider is not None
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return TestClient(traced_app(provider))


def test_one_server_span_per_request_named_by_route(spans: InMemorySpanExporter) -> None:
    client_for(spans).get("/items/7", headers=SAMPLED)

    (span,) = spans.get_finished_spans()
    assert span.name == "GET /items/{item_id}"
    assert format(span.context.trace_id, "032x") == CALLER_TRACE
    assert span.attributes is not None and span.attributes["http.response.status_code"] == 200


def test_service_name_comes_from_otel_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "core-eu-1")
    provider = tracer_provider()
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "core-eu-1"


def test_disabled_sdk_means_no_provider_and_no_fastapi_tracing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracer_provider() is None
    assert fastapi_telemetry(None)["tracing"] is False


@pytest.mark.parametrize(
    ("sampler", "arg", "ratio"),
    [
        (None, None, 1.0),
        ("parentbased_always_on", None, 1.0),
        ("parentbased_traceidratio", "0.25", 0.25),
        ("parentbased_traceidratio", "7", 1.0),
        ("parentbased_traceidratio", "a lot", 1.0),
    ],
)
def test_new_trace_ratio_reads_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch, sampler: str | None, arg: str | None, ratio: float
) -> None:
    for name, value in (("OTEL_TRACES_SAMPLER", sampler), ("OTEL_TRACES_SAMPLER_ARG", arg)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert new_trace_ratio() == ratio


def test_ratio_zero_records_no_new_trace_but_follows_a_sampled_caller(
    monkeypatch: pytest.MonkeyPatch, spans: InMemorySpanExporter
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    client = client_for(spans)

    for _ in range(20):
        assert client.get("/items/1").status_code == 200
    assert client.get("/items/2", headers=NOT_SAMPLED).status_code == 200
    assert spans.get_finished_spans() == ()

    client.get("/items/3", headers=SAMPLED)
    (span,) = spans.get_finished_spans()
    assert format(span.context.trace_id, "032x") == CALLER_TRACE


def test_ratio_one_samples_every_new_trace(
    monkeypatch: pytest.MonkeyPatch, spans: InMemorySpanExporter
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "1.0")
    client = client_for(spans)

    for _ in range(5):
        client.get("/items/1")
    assert len(spans.get_finished_spans()) == 5
