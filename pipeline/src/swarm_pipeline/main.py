"""Swarm Showcase's CI/CD as Dagger functions: one function per stage, and `ci` for all.

    dagger call ci                       # lint … load test, then stop at the gate
    dagger call ci --approve             # … and publish, deploy, smoke, rollback if needed
    dagger call load-test export --path var/k6-summary.json

Decisions (gate, rollback, scanner verdicts) are plain functions in decisions.py.
"""

import asyncio
import dataclasses
import time
from typing import Annotated, Any

import dagger
from dagger import DefaultPath, Doc, Ignore, ReturnType, dag

from .decisions import (
    ReportError,
    Severity,
    bandit_findings,
    gate_decision,
    load_json_object,
    parse_smoke_report,
    rollback_decision,
    scan_verdict,
    trivy_findings,
)
from .keys import ROLES, ephemeral_api_keys, keys_by_role
from .manifests import image_overlay, release_refs
from .sdk_typing import field, function, object_type

# Matches the uv that wrote uv.lock; the tool images install it from PyPI.
UV_VERSION = "0.13.8"
VENV = "/opt/venv"
# Reports of the tools, inside their containers.
REPORTS = "/reports"
SRC = "/src"
CORE_PORT = 8000
KUBE_API_PORT = 8080
# Jaeger's OTLP/gRPC port: hypercode-core exports with the gRPC OTLP exporter.
OTLP_GRPC_PORT = 4317
JAEGER_UI_PORT = 16686
# Services listen on all interfaces of their container; only this Dagger session reaches them.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104  # nosec B104
SOURCE_IGNORE = [
    ".git",
    "**/.venv",
    "**/__pycache__",
    "**/.mypy_cache",
    "**/.ruff_cache",
    "**/.pytest_cache",
    "var",
    "pipeline/sdk",
    "**/*.db",
]


class StageFailed(Exception):
    """A stage ran and its verdict is no: the message says why."""


@object_type
class Staging:
    """The staging service graph: hypercode-core, a coder agent and Jaeger."""

    core: dagger.Service = field()
    agent: dagger.Service = field()
    jaeger: dagger.Service = field()
    client_key: dagger.Secret
    registrar_key: dagger.Secret
    admin_key: dagger.Secret

    def bind(self, container: dagger.Container) -> dagger.Container:
        """Reach core, agent and Jaeger by those host names; binding starts the agent too."""
        return (
            container.with_service_binding("core", self.core)
            .with_service_binding("agent", self.agent)
            .with_service_binding("jaeger", self.jaeger)
            .with_env_variable("BASE_URL", f"http://core:{CORE_PORT}")
            .with_secret_variable("CLIENT_KEY", self.client_key)
            .with_secret_variable("REGISTRAR_KEY", self.registrar_key)
            .with_secret_variable("ADMIN_KEY", self.admin_key)
        )


@object_type
class SwarmPipeline:
    """CI/CD of Swarm Showcase: hypercode-core, its coder agent, load test and deployment."""

    source: Annotated[
        dagger.Directory,
        DefaultPath("/"),
        Ignore(SOURCE_IGNORE),
        Doc("the repository root"),
    ]
    python_image: Annotated[str, Doc("base image of every Python container")] = "python:3.11-slim"
    jaeger_image: Annotated[str, Doc("Jaeger all-in-one image for staging")] = (
        "jaegertracing/jaeger:2.13.0"
    )
    api_keys: Annotated[
        dagger.Secret | None,
        Doc("HYPERCODE_API_KEYS JSON for staging; default: fresh random keys per run"),
    ] = None

    # --- stages ----------------------------------------------------------------------

    @function
    async def lint(self) -> str:
        """Lint with ruff and type-check with mypy --strict."""
        return await (
            self._tools()
            .with_exec(["ruff", "check", "."])
            .with_exec(["ruff", "format", "--check", "."])
            .with_exec(["mypy", "app", "agents", "pipeline/src"])
            .stdout()
        )

    @function
    async def test(
        self,
        markers: Annotated[
            str, Doc("pytest -m expression that selects the tier")
        ] = "not postgres and not slow and not dagger and not jaeger",
    ) -> str:
        """Run the unit tier of the test suite (no PostgreSQL, Jaeger, slow or Dagger tests)."""
        return await (
            self._tools()
            .with_exec(
                ["python", "-m", "pytest", "-m", markers, "-q"],
                # The agent's sandbox tests create namespaces and mount /proc.
                insecure_root_capabilities=True,
            )
            .stdout()
        )

    @function
    async def sast(
        self,
        trivy_scanners: Annotated[
            str, Doc("Trivy scanners; add 'vuln' where Trivy's database can be downloaded")
        ] = "misconfig,secret",
    ) -> str:
        """Scan with Bandit (app, agents, pipeline) and Trivy (repo); fail on HIGH or CRITICAL."""
        bandit_report, trivy_report = await asyncio.gather(
            self._bandit_report(), self._trivy_report(trivy_scanners)
        )
        findings = bandit_findings(bandit_report) + trivy_findings(trivy_report)
        verdict = scan_verdict(findings, blocking=Severity.HIGH)
        report = verdict.describe(f"sast clean (Bandit; Trivy scanners: {trivy_scanners})")
        if not verdict.ok:
            raise StageFailed(report)
        return report

    @function
    async def build(self) -> list[dagger.Container]:
        """Build the images of hypercode-core and the coder agent from the repo's Dockerfiles."""
        return list(await asyncio.gather(self._core_image().sync(), self._agent_image().sync()))

    @function
    async def staging(self) -> Staging:
        """Start-on-demand staging graph: core and agent wired to Jaeger by service bindings."""
        api_keys, keys = await self._staging_keys()
        role_keys = {role: _secret(role, keys) for role in ROLES}
        jaeger = (
            dag.container()
            .from_(self.jaeger_image)
            .with_env_variable("JAEGER_LISTEN_HOST", ALL_INTERFACES)
            .with_exposed_port(OTLP_GRPC_PORT)
            .with_exposed_port(JAEGER_UI_PORT)
            .as_service(use_entrypoint=True)
        )
        core = (
            (await _traced(self._core_image(), "hypercode-core", jaeger))
            .with_secret_variable("HYPERCODE_API_KEYS", api_keys)
            .with_exposed_port(CORE_PORT)
            .as_service(use_entrypoint=True)
        )
        agent = (
            (await _traced(self._agent_image(), "coder-agent", jaeger))
            .with_env_variable("HYPERCODE_URL", f"http://core:{CORE_PORT}")
            .with_secret_variable("HYPERCODE_REGISTRAR_KEY", role_keys["registrar"])
            .with_service_binding("core", core)
            # The task sandbox (bubblewrap) needs namespaces. Inside the engine a non-root
            # user may not create them, and with extra capabilities bwrap refuses to run
            # unless setuid (both measured); as root it uses no user namespace and drops each
            # task to nobody, so the staging agent runs as root with root capabilities.
            .with_user("root")
            .as_service(use_entrypoint=True, insecure_root_capabilities=True)
        )
        return Staging(
            core=core,
            agent=agent,
            jaeger=jaeger,
            client_key=role_keys["client"],
            registrar_key=role_keys["registrar"],
            admin_key=role_keys["admin"],
        )

    @function
    async def load_test(
        self,
        profile: Annotated[str, Doc("load shape from k6/profiles.json")] = "ci",
    ) -> dagger.File:
        """Run k6 against staging; return its JSON summary, fail when a threshold failed."""
        summary, _ = await self._load_test_within_sla(profile)
        return summary

    @function
    async def gate(
        self,
        summary: Annotated[dagger.File, Doc("k6 JSON summary from load-test")],
        approved: Annotated[bool, Doc("production approval (in CI: the environment's)")] = False,
    ) -> str:
        """Production gate: open only with an approval and a load test whose SLAs held."""
        data = load_json_object(await summary.contents(), "k6 summary")
        verdict = gate_decision(data, approved)
        report = verdict.describe("production gate open")
        if not verdict.ok:
            raise StageFailed(report)
        return report

    @function
    async def publish(
        self,
        tag: Annotated[str, Doc("image tag, e.g. the git commit")] = "dev",
        registry: Annotated[str, Doc("push here; empty: only export OCI tarballs")] = "",
    ) -> dagger.Directory:
        """Export both images as OCI tarballs (the mock push), and push if a registry is given."""
        refs = release_refs(tag, registry)
        images = {"hypercode-core": self._core_image(), "hypercode-agent": self._agent_image()}
        if registry:
            pushed = await asyncio.gather(
                *(image.publish(refs[name]) for name, image in images.items())
            )
            refs = dict(zip(images, pushed, strict=True))
        listing = "".join(f"{name} {ref} {name}.tar\n" for name, ref in refs.items())
        return _tarballs(images).with_new_file("images.txt", listing)

    @function
    async def deploy(
        self,
        tag: Annotated[str, Doc("image tag to deploy")] = "dev",
        registry: Annotated[str, Doc("registry the images were published to")] = "",
    ) -> str:
        """Render deploy/k8s with this release's images; kubectl apply in client dry-run."""
        return await self._apply_release(tag, registry)

    @function
    async def smoke(
        self,
        base_url: Annotated[str, Doc("service to check; empty: the staging graph")] = "",
    ) -> str:
        """Smoke-check hypercode-core (health, auth, one task end to end); fail if any fails."""
        report = await self._smoke_report(base_url)
        verdict = rollback_decision(parse_smoke_report(report))
        if verdict.ok:
            raise StageFailed(report + verdict.describe("roll back"))
        return report

    @function
    async def rollback(
        self,
        previous_tag: Annotated[str, Doc("tag of the release to return to")],
        registry: Annotated[str, Doc("registry of that release")] = "",
    ) -> str:
        """Re-deploy the previous release's images (same dry-run apply as deploy)."""
        return await self._apply_release(previous_tag, registry)

    @function
    async def ci(
        self,
        approve: Annotated[bool, Doc("production approval: go on past the gate")] = False,
        tag: Annotated[str, Doc("tag of this release")] = "dev",
        previous_tag: Annotated[str, Doc("release to roll back to when smoke fails")] = "",
        registry: Annotated[str, Doc("push images here; empty: OCI tarballs only")] = "",
    ) -> str:
        """The whole pipeline: checks and build in parallel, staging, load test, gate, release."""
        checks = {"lint": self.lint(), "test": self.test(), "sast": self.sast()}
        outcomes = await asyncio.gather(*checks.values(), self.build(), return_exceptions=True)
        # Every check runs to its end, so one run reports all that is wrong, not the first.
        failures = [
            f"{name}: {failure_text(outcome)}"
            for name, outcome in zip([*checks, "build"], outcomes, strict=True)
            if isinstance(outcome, BaseException)
        ]
        if failures:
            raise StageFailed("\n\n".join(failures))
        log = ["lint, test, sast, build: passed"]
        _, data = await self._load_test_within_sla("ci")
        log.append("load test: every SLA threshold held")
        gate = gate_decision(data, approve)
        log.append(gate.describe("production gate open"))
        if not gate.ok:
            return "\n".join([*log, "stopped at the gate: pass --approve to release"])
        await (await self.publish(tag, registry)).sync()
        log.append(await self.deploy(tag, registry))
        log.append(await self._release_smoke(previous_tag, registry))
        return "\n".join(log)

    # --- building blocks ---------------------------------------------------------------

    def _tools(self) -> dagger.Container:
        """Python with the repo's locked dev environment: ruff, mypy, pytest, bandit, k6, trivy."""
        return (
            dag.container()
            .from_(self.python_image)
            .with_mounted_cache("/root/.cache/uv", dag.cache_volume("swarm-uv"))
            .with_exec(["pip", "install", "--no-cache-dir", f"uv=={UV_VERSION}"])
            .with_env_variable("UV_PROJECT_ENVIRONMENT", VENV)
            .with_env_variable("UV_LINK_MODE", "copy")
            .with_exec(["mkdir", "-p", REPORTS])
            .with_workdir(SRC)
            .with_file(f"{SRC}/pyproject.toml", self.source.file("pyproject.toml"))
            .with_file(f"{SRC}/uv.lock", self.source.file("uv.lock"))
            .with_exec(["uv", "sync", "--frozen", "--no-install-project"])
            .with_env_variable("PATH", f"{VENV}/bin:${{PATH}}", expand=True)
            .with_directory(SRC, self.source)
        )

    def _core_image(self) -> dagger.Container:
        return self._docker_image("deploy/docker/core.Dockerfile")

    def _agent_image(self) -> dagger.Container:
        return self._docker_image("deploy/docker/agent.Dockerfile")

    def _docker_image(self, dockerfile: str) -> dagger.Container:
        build_args = [dagger.BuildArg(name="PYTHON_IMAGE", value=self.python_image)]
        return self.source.docker_build(dockerfile=dockerfile, build_args=build_args)

    async def _bandit_report(self) -> str:
        return await (
            self._tools()
            .with_exec(
                # The root pyproject's [tool.bandit] applies, as in a local run.
                [
                    "bandit",
                    "-c",
                    "pyproject.toml",
                    "-r",
                    "app",
                    "agents",
                    "pipeline/src",
                    "-f",
                    "json",
                ],
                redirect_stdout=f"{REPORTS}/bandit.json",
                expect=ReturnType.ANY,  # exit 1 means findings: the verdict reads the report
            )
            .file(f"{REPORTS}/bandit.json")
            .contents()
        )

    async def _trivy_report(self, scanners: str) -> str:
        # Offline-safe: the misconfiguration checks embedded in the binary, no DB download.
        return await (
            self._tools()
            .with_mounted_cache("/root/.cache/trivy", dag.cache_volume("swarm-trivy"))
            .with_exec(
                [
                    "trivy", "fs", "--scanners", scanners, "--skip-check-update",
                    "--skip-version-check", "--disable-telemetry",
                    "--ignorefile", "pipeline/trivyignore.yaml",
                    "--format", "json", "--output", f"{REPORTS}/trivy.json", ".",
                ]
            )
            .file(f"{REPORTS}/trivy.json")
            .contents()
        )  # fmt: skip

    async def _load_test_within_sla(self, profile: str) -> tuple[dagger.File, dict[str, Any]]:
        """Run k6 against a fresh staging graph; fail unless k6 and every threshold passed."""
        summary_path = f"{REPORTS}/k6-summary.json"
        ran = await (
            (await self.staging())
            .bind(self._tools())
            .with_env_variable("PROFILE", profile)
            .with_env_variable("SUMMARY_JSON", summary_path)
            .with_env_variable("K6_NO_USAGE_REPORT", "true")
            .with_(_fresh_run)
            .with_exec(["k6", "run", "--quiet", "k6/swarm_load_test.js"], expect=ReturnType.ANY)
            .sync()
        )
        exit_code, summary = await ran.exit_code(), ran.file(summary_path)
        data = load_json_object(await summary.contents(), "k6 summary")
        # The SLA part of the gate: approval is asked for separately, by the gate stage.
        sla = gate_decision(data, approved=True)
        if exit_code != 0 or not sla.ok:
            raise StageFailed(f"k6 exited {exit_code}\n{sla.describe('SLA held')}")
        return summary, data

    async def _smoke_report(self, base_url: str) -> str:
        checks = self._tools().with_(_fresh_run)
        if base_url:
            client_key = _secret("client", await self._given_keys("smoke of --base-url"))
            checks = checks.with_env_variable("BASE_URL", base_url)
            checks = checks.with_secret_variable("CLIENT_KEY", client_key)
        else:
            checks = (await self.staging()).bind(checks)
        return await checks.with_exec(
            ["python", "pipeline/src/swarm_pipeline/smoke_checks.py"]
        ).stdout()

    async def _given_keys(self, purpose: str) -> dict[str, str]:
        if self.api_keys is None:
            raise StageFailed(f"{purpose} needs --api-keys: the deployment's HYPERCODE_API_KEYS")
        return keys_by_role(await self.api_keys.plaintext())

    async def _staging_keys(self) -> tuple[dagger.Secret, dict[str, str]]:
        """The staging core's HYPERCODE_API_KEYS, and the key of each role for its clients."""
        if self.api_keys is not None:
            return self.api_keys, await self._given_keys("staging")
        api_keys = ephemeral_api_keys()
        return dag.set_secret(f"staging-api-keys-{time.time_ns()}", api_keys), keys_by_role(
            api_keys
        )

    async def _apply_release(self, tag: str, registry: str) -> str:
        overlay = image_overlay("../../src/deploy/k8s", release_refs(tag, registry))
        kube_api = (
            self._tools()
            .with_exposed_port(KUBE_API_PORT)
            .as_service(
                args=[
                    "python", "pipeline/src/swarm_pipeline/stub_apiserver.py",
                    "--host", ALL_INTERFACES, "--port", str(KUBE_API_PORT),
                ]
            )
        )  # fmt: skip
        return await (
            self._tools()
            .with_service_binding("kube-api", kube_api)
            .with_new_file("/release/overlay/kustomization.yaml", overlay)
            .with_exec(["sh", "-c", "kubectl kustomize /release/overlay > /release/rendered.yaml"])
            .with_exec(
                [
                    "kubectl", f"--server=http://kube-api:{KUBE_API_PORT}", "apply",
                    "--dry-run=client", "--validate=false", "-f", "/release/rendered.yaml",
                ]
            )
            .stdout()
        )  # fmt: skip

    async def _release_smoke(self, previous_tag: str, registry: str) -> str:
        """Smoke-check the release; roll back to previous_tag when the checks say so."""
        try:
            checks = parse_smoke_report(await self._smoke_report(""))
        except (ReportError, dagger.ExecError) as error:
            verdict = rollback_decision([])
            detail = f"smoke checks did not report: {error}"
        else:
            verdict = rollback_decision(checks)
            detail = "\n".join(str(dataclasses.asdict(check)) for check in checks)
        if not verdict.ok:
            return verdict.describe("roll back")
        if not previous_tag:
            raise StageFailed(f"{detail}\n{verdict.describe('roll back')}\nno previous_tag given")
        rolled_back = await self.rollback(previous_tag, registry)
        raise StageFailed(f"{detail}\n{verdict.describe('roll back')}\n{rolled_back}")


def failure_text(error: BaseException, limit: int = 4000) -> str:
    """What a failed stage said: a failed command's own output, else the error itself."""
    if isinstance(error, dagger.ExecError):
        output = f"{error.stdout}{error.stderr}"[-limit:]
        return f"`{' '.join(error.command)}` exited {error.exit_code}\n{output}"
    return str(error)


def _secret(role: str, keys: dict[str, str]) -> dagger.Secret:
    return dag.set_secret(f"staging-{role}-key-{time.time_ns()}", keys[role])


async def _traced(
    image: dagger.Container, service_name: str, jaeger: dagger.Service
) -> dagger.Container:
    """Send the image's traces to the Jaeger service by OTLP/gRPC.

    Dagger sets OTEL_EXPORTER_OTLP_* in every container to its own collector, over any value
    given with with_env_variable (measured), so `env` sets them again in front of the
    image's entrypoint.
    """
    jaeger_otlp = f"http://jaeger:{OTLP_GRPC_PORT}"
    settings = [
        f"OTEL_SERVICE_NAME={service_name}",
        f"OTEL_EXPORTER_OTLP_ENDPOINT={jaeger_otlp}",
        f"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={jaeger_otlp}",
        "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc",
    ]
    entrypoint = await image.entrypoint()
    return image.with_service_binding("jaeger", jaeger).with_entrypoint(
        ["env", *settings, *entrypoint]
    )


def _fresh_run(container: dagger.Container) -> dagger.Container:
    """Checks of live services must run every time, never come from Dagger's cache."""
    return container.with_env_variable("SWARM_RUN_AT", str(time.time_ns()))


def _tarballs(images: dict[str, dagger.Container]) -> dagger.Directory:
    directory = dag.directory()
    for name, image in images.items():
        directory = directory.with_file(f"{name}.tar", image.as_tarball())
    return directory
