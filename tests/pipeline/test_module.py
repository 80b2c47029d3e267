"""What `dagger functions` will list, read from the module's registration without an engine."""

import inspect

from swarm_pipeline.main import Staging, SwarmPipeline

STAGES = {
    "lint", "test", "sast", "build", "staging", "load_test", "publish",
    "deploy", "smoke", "rollback", "gate", "ci",
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


def test_staging_exposes_its_services() -> None:
    assert set(OBJECTS["Staging"].fields) == {"core", "agent", "jaeger"}
    assert "client_key" in inspect.signature(Staging).parameters
