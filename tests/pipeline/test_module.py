"""What `dagger functions` will list, read from the module's registration without an engine."""

import inspect

from swarm_pipeline.main import POSTGRES_URL_VARIABLE, ServiceGraph, SwarmPipeline

from harness.postgres import TEST_SERVER_VARIABLE

STAGES = {
    "lint", "test", "sast", "build", "staging", "deploy_staging", "load_test", "publish",
    "deploy", "smoke", "rollback", "release", "gate", "ci",
}  # fmt: skip


# The SDK's registry of object types, as `dagger functions` will list them.
OBJECTS = SwarmPipeline.__dagger_module__._objects


def test_one_function_per_stage() -> None:
    assert set(OBJECTS["SwarmPipeline"].functions) == STAGES


def test_every_stage_has_a_one_line_help() -> None:
    for name, function in OBJECTS["SwarmPipeline"].functions.items():
        assert function.doc and "\n" not in function.doc.strip(), name


def test_images_are_arguments_with_official_defaults() -> None:
    parameters = inspect.signature(SwarmPipeline).parameters
    assert parameters["python_image"].default == "python:3.11-slim"
    assert parameters["jaeger_image"].default.startswith("jaegertracing/jaeger:")
    assert parameters["api_keys"].default is None


def test_service_graph_exposes_its_services() -> None:
    assert set(OBJECTS["ServiceGraph"].fields) == {"core", "agent", "jaeger"}
    assert "client_key" in inspect.signature(ServiceGraph).parameters


def test_test_stage_and_suite_agree_on_the_postgres_variable() -> None:
    """The test stage names its PostgreSQL service in the variable the fixture reads."""
    assert POSTGRES_URL_VARIABLE == TEST_SERVER_VARIABLE
