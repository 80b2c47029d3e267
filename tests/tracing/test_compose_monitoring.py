"""deploy/docker-compose.monitoring.yml: the shape that makes the traced stack work.

No `docker compose` here to run `config` on it, so these checks read the YAML: the
wiring that a typo would silently break (ports, OTLP endpoint, service names, files).
"""

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.jaeger import DEFAULT_CONFIG

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "deploy" / "docker-compose.monitoring.yml"
OUR_SERVICES = {"hypercode-core": "hypercode-core", "coder-agent": "coder-agent"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def published(service: dict[str, Any]) -> dict[int, str]:
    """Container port -> host address, from "host:hostport:containerport" entries."""
    ports = {}
    for entry in service.get("ports", []):
        host, _, container = str(entry).rpartition(":")
        ports[int(container)] = host.rpartition(":")[0]
    return ports


def test_jaeger_is_the_official_v2_image_with_ui_and_otlp_ports(compose: dict[str, Any]) -> None:
    jaeger = compose["services"]["jaeger"]
    image, _, tag = jaeger["image"].partition(":")
    assert image == "jaegertracing/jaeger"
    assert tag.startswith("2.")
    assert set(published(jaeger)) == {16686, 4317, 4318}


def test_jaeger_runs_the_repository_config(compose: dict[str, Any]) -> None:
    jaeger = compose["services"]["jaeger"]
    source, target, _ = jaeger["volumes"][0].split(":")
    assert (COMPOSE_FILE.parent / source).resolve() == DEFAULT_CONFIG
    assert jaeger["command"] == ["--config", target]


def test_every_port_is_published_on_localhost_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert set(published(service).values()) <= {"127.0.0.1"}, name


@pytest.mark.parametrize("name", sorted(OUR_SERVICES))
def test_our_images_are_built_from_the_repository(compose: dict[str, Any], name: str) -> None:
    build = compose["services"][name]["build"]
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    assert context == COMPOSE_FILE.parents[1]
    assert (context / build["dockerfile"]).is_file()


@pytest.mark.parametrize(("name", "service_name"), sorted(OUR_SERVICES.items()))
def test_our_services_export_to_jaeger(
    compose: dict[str, Any], name: str, service_name: str
) -> None:
    env = compose["services"][name]["environment"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317"
    assert env["OTEL_SERVICE_NAME"] == service_name
    assert env["OTEL_SDK_DISABLED"] == "false"


def test_start_order_follows_the_calls(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "jaeger" in services["hypercode-core"]["depends_on"]
    assert "hypercode-core" in services["coder-agent"]["depends_on"]


def test_no_secret_is_written_in_the_file(compose: dict[str, Any]) -> None:
    core_env = compose["services"]["hypercode-core"]["environment"]
    agent_env = compose["services"]["coder-agent"]["environment"]
    # ${VAR:?message}: compose refuses to start without the variable, and nothing is baked in.
    assert core_env["HYPERCODE_API_KEYS"].startswith("${HYPERCODE_API_KEYS:?")
    assert agent_env["HYPERCODE_REGISTRAR_KEY"].startswith("${HYPERCODE_REGISTRAR_KEY:?")
