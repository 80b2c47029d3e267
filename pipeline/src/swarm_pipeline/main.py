"""Swarm Showcase's CI/CD as Dagger functions: one function per stage, and `ci` for all.

    dagger call ci                       # checks, deploy staging, load test, stop at the gate
    dagger call ci --approve             # … production, smoke, rollback when smoke fails
    dagger call load-test export --path var/k6-summary.json

Decisions (gate, rollback, scanner verdicts) are plain functions in decisions.py.
"""

import asyncio
import secrets
import time
from typing import Annotated, Any

import dagger
from dagger import DefaultPath, Doc, Ignore, ReturnType, dag

from .decisions import (
    ReportError,
    Severity,
    Verdict,
    bandit_findings,
    gate_decision,
    load_json_object,
    parse_smoke_report,
    release_health,
    scan_verdict,
    trivy_findings,
)
from .keys import ROLES, ephemeral_api_keys, keys_by_role
from .manifests import environment_overlay, image_overlay, release_refs, rendered_images
from .sdk_typing import field, function, object_type

# Matches the uv that wrote uv.lock; the tool images install it from PyPI.
UV_VERSION = "0.13.8"
VENV = "/opt/venv"
# Reports of the tools, inside their containers.
REPORTS = "/reports"
SRC = "/src"
CORE_PORT = 8000
POSTGRES_PORT = 5432
# The test suite's postgres fixture uses the server this names instead of starting its own
# (harness/postgres.py reads it; tests/pipeline/test_module.py checks both agree).
POSTGRES_URL_VARIABLE = "SWARM_TEST_POSTGRES_URL"
PGDATA = "/var/lib/postgresql/swarm-test"
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
class ServiceGraph:
    """A release running as services: hypercode-core, a coder agent and Jaeger (staging)."""

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
            .with_exec(["mypy", "app", "agents", "contract", "pipeline/src"])
            .stdout()
        )

    @function
    async def test(
        self,
        markers: Annotated[
            str, Doc("pytest -m expression that selects the tier")
        ] = "not slow and not dagger and not jaeger and not host",
        paths: Annotated[
            list[str] | None, Doc("test files or directories; default: the whole suite")
        ] = None,
    ) -> str:
        """Run the unit and PostgreSQL tiers, with PostgreSQL as a service (no slow/Jaeger)."""
        return await (
            self._tools()
            .with_service_binding("postgres", self._postgres())
            .with_env_variable(
                POSTGRES_URL_VARIABLE, f"postgresql://postgres@postgres:{POSTGRES_PORT}/postgres"
            )
            .with_exec(
                ["python", "-m", "pytest", "-m", markers, "-q", *(paths or [])],
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
        return list(
            await asyncio.gather(*(image.sync() for image in self._built_images().values()))
        )

    @function
    async def staging(
        self,
        tag: Annotated[str, Doc("release whose images staging runs")] = "dev",
        registry: Annotated[str, Doc("pull the release from here; empty: build it")] = "",
    ) -> ServiceGraph:
        """Start-on-demand staging graph of a release: core, agent and Jaeger, bound."""
        return await self._service_graph(self._release_images(tag, registry))

    @function
    async def deploy_staging(
        self,
        tag: Annotated[str, Doc("tag of this release, e.g. the git commit")] = "dev",
        registry: Annotated[str, Doc("push here; empty: OCI tarballs only (the mock push)")] = "",
    ) -> str:
        """Deploy a release to staging: build, publish (mock push), apply the staging overlay."""
        published = await self.publish(tag, registry)
        listing = await (await published.sync()).file("images.txt").contents()
        applied = await self._apply_release(tag, registry, "staging")
        push = f"pushed to {registry}" if registry else "mock push: OCI tarballs"
        return "\n".join(
            [
                f"deploy staging: release {tag}",
                f"  published ({push}):",
                *(f"    {line}" for line in listing.splitlines()),
                "  applied deploy/k8s/overlays/staging (mock: kubectl apply --dry-run=client):",
                *(f"    {line}" for line in applied.splitlines()),
                "  the staging service graph runs these images",
            ]
        )

    @function
    async def load_test(
        self,
        profile: Annotated[str, Doc("load shape from k6/profiles.json")] = "ci",
        tag: Annotated[str, Doc("release under test (see staging)")] = "dev",
        registry: Annotated[str, Doc("registry of that release (see staging)")] = "",
    ) -> dagger.File:
        """Run k6 against staging; return its JSON summary, fail when a threshold failed."""
        summary, _ = await self._load_test_within_sla(profile, tag, registry)
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
        images = self._built_images()
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
        environment: Annotated[str, Doc("overlay in deploy/k8s/overlays")] = "production",
    ) -> str:
        """Render an environment's overlay with this release's images; kubectl apply (dry run)."""
        return await self._apply_release(tag, registry, environment)

    @function
    async def smoke(
        self,
        base_url: Annotated[
            str, Doc("service to check; empty: a service graph of the release")
        ] = "",
        tag: Annotated[str, Doc("release to check without --base-url")] = "dev",
        registry: Annotated[str, Doc("registry of that release")] = "",
        drill: Annotated[
            bool,
            Doc("rollback drill: check with a key the release does not know, so smoke fails"),
        ] = False,
    ) -> str:
        """Smoke-check hypercode-core (health, auth, one task end to end); fail if any fails."""
        report, verdict = await self._smoke_verdict(base_url, tag, registry, drill)
        if not verdict.ok:
            raise StageFailed(f"{report}\n{verdict.describe('healthy')}")
        return report

    @function
    async def rollback(
        self,
        previous_tag: Annotated[str, Doc("tag of the release to return to")],
        registry: Annotated[str, Doc("registry of that release")] = "",
        environment: Annotated[str, Doc("overlay in deploy/k8s/overlays")] = "production",
    ) -> str:
        """Re-deploy the previous release's images (same dry-run apply as deploy)."""
        return await self._apply_release(previous_tag, registry, environment)

    @function
    async def release(
        self,
        tag: Annotated[str, Doc("tag of this release")] = "dev",
        previous_tag: Annotated[str, Doc("release to roll back to when smoke fails")] = "",
        registry: Annotated[str, Doc("registry of both releases")] = "",
        base_url: Annotated[str, Doc("production URL to smoke-check (see smoke)")] = "",
    ) -> str:
        """Deploy to production, smoke-check it, roll back to previous-tag if smoke fails."""
        applied = await self.deploy(tag, registry, "production")
        report, verdict = await self._smoke_verdict(base_url, tag, registry)
        log = [
            f"production: release {tag}, deploy/k8s/overlays/production (mock apply)",
            *(f"  {line}" for line in applied.splitlines()),
            "smoke checks:",
            *(f"  {line}" for line in report.splitlines()),
            verdict.describe("healthy"),
        ]
        if verdict.ok:
            return "\n".join([*log, "rollback: skipped (smoke passed)"])
        if not previous_tag:
            log.append("rollback: impossible, no previous_tag given")
        else:
            rolled_back = await self.rollback(previous_tag, registry, "production")
            log.append(f"rollback: re-applied release {previous_tag} to production")
            log.extend(f"  {line}" for line in rolled_back.splitlines())
        raise StageFailed("\n".join([*log, f"release {tag} failed its smoke checks"]))

    @function
    async def ci(
        self,
        approve: Annotated[bool, Doc("production approval: go on past the gate")] = False,
        tag: Annotated[str, Doc("tag of this release")] = "dev",
        previous_tag: Annotated[str, Doc("release to roll back to when smoke fails")] = "",
        registry: Annotated[str, Doc("push images here; empty: OCI tarballs only")] = "",
        load_profile: Annotated[str, Doc("k6 profile of the load test (smoke: lighter)")] = "ci",
    ) -> str:
        """The whole pipeline: build & test, deploy staging, load test, gate, production."""
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
        log = ["== 1. build & test: lint, test, sast, build passed"]
        log += ["== 2. deploy staging", await self.deploy_staging(tag, registry)]
        _, data = await self._load_test_within_sla(load_profile, tag, registry)
        log.append(f"== 3. load test ({load_profile} profile) on staging: every SLA held")
        gate = gate_decision(data, approve)
        log += ["== 4. production gate", gate.describe("production gate open")]
        if not gate.ok:
            return "\n".join([*log, "stopped at the gate: pass --approve to release"])
        try:
            released = await self.release(tag, previous_tag, registry)
        except StageFailed as failed:
            log += ["== 5. production, smoke, rollback", str(failed)]
            raise StageFailed("\n".join(log)) from failed
        return "\n".join([*log, "== 5. production, smoke, rollback", released])

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

    def _postgres(self) -> dagger.Service:
        """A throwaway PostgreSQL for the test tier: Debian's server in the Python image.

        Debian's package, not a postgres image: the Python image is the one base image the
        tools need anyway, and Debian's server is what the suite runs against outside Dagger.
        Trust authentication: only containers bound to this service in this session reach it.
        """
        server = "$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)"
        return (
            dag.container()
            .from_(self.python_image)
            .with_env_variable("DEBIAN_FRONTEND", "noninteractive")
            .with_exec(["sh", "-c", "apt-get update -qq && apt-get install -y -qq postgresql"])
            .with_user("postgres")
            .with_exec(
                [
                    "sh", "-c",
                    f"{server}/initdb -D {PGDATA} -U postgres --auth=trust --no-sync -E UTF8"
                    f" && echo 'host all all all trust' >> {PGDATA}/pg_hba.conf",
                ]
            )
            .with_exposed_port(POSTGRES_PORT)
            .as_service(
                args=[
                    "sh", "-c",
                    f"exec {server}/postgres -D {PGDATA} -p {POSTGRES_PORT}"
                    " -c listen_addresses='*' -c fsync=off -c max_connections=200",
                ]
            )
        )  # fmt: skip

    def _built_images(self) -> dict[str, dagger.Container]:
        """Both images, built from this source (what publish pushes)."""
        return {
            "hypercode-core": self._docker_image("deploy/docker/core.Dockerfile"),
            "hypercode-agent": self._docker_image("deploy/docker/agent.Dockerfile"),
        }

    def _release_images(self, tag: str, registry: str) -> dict[str, dagger.Container]:
        """A release's images: pulled from the registry it was pushed to, or (mock push)
        the very containers publish exported."""
        if not registry:
            return self._built_images()
        return {
            name: dag.container().from_(ref) for name, ref in release_refs(tag, registry).items()
        }

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
                    "contract",
                    "pipeline/src",
                    "-f",
                    "json",
                    # Not stdout: Bandit's progress bar goes there too.
                    "-o",
                    f"{REPORTS}/bandit.json",
                ],
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

    async def _load_test_within_sla(
        self, profile: str, tag: str, registry: str
    ) -> tuple[dagger.File, dict[str, Any]]:
        """Run k6 against a fresh staging graph; fail unless k6 and every threshold passed."""
        summary_path = f"{REPORTS}/k6-summary.json"
        ran = await (
            (await self.staging(tag, registry))
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

    async def _smoke_verdict(
        self, base_url: str, tag: str, registry: str, drill: bool = False
    ) -> tuple[str, Verdict]:
        """Run the smoke checks; report each, and whether the release is healthy."""
        checks = self._tools().with_(_fresh_run)
        if base_url:
            client_key = _secret("client", await self._given_keys("smoke of --base-url"))
            checks = checks.with_env_variable("BASE_URL", base_url)
            checks = checks.with_secret_variable("CLIENT_KEY", client_key)
        else:
            checks = (await self._service_graph(self._release_images(tag, registry))).bind(checks)
        if drill:
            # As after a release with the wrong secret: every authenticated check gets 401,
            # so the rollback path runs for real on a healthy release.
            unknown_key = dag.set_secret(f"drill-key-{time.time_ns()}", secrets.token_urlsafe(32))
            checks = checks.with_secret_variable("CLIENT_KEY", unknown_key)
        try:
            report = await checks.with_exec(
                ["python", "pipeline/src/swarm_pipeline/smoke_checks.py"]
            ).stdout()
            results = parse_smoke_report(report)
        except (ReportError, dagger.ExecError) as error:
            return f"the smoke checks did not report: {failure_text(error)}", release_health([])
        lines = [f"{'passed' if c.passed else 'FAILED'} {c.name}: {c.detail}" for c in results]
        return "\n".join(lines), release_health(results)

    async def _service_graph(self, images: dict[str, dagger.Container]) -> ServiceGraph:
        """Core and agent of these images, wired to Jaeger and each other by bindings."""
        api_keys, keys = await self._graph_keys()
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
            (await _traced(images["hypercode-core"], "hypercode-core", jaeger))
            .with_secret_variable("HYPERCODE_API_KEYS", api_keys)
            .with_exposed_port(CORE_PORT)
            .as_service(use_entrypoint=True)
        )
        agent = (
            (await _traced(images["hypercode-agent"], "coder-agent", jaeger))
            .with_env_variable("HYPERCODE_URL", f"http://core:{CORE_PORT}")
            .with_secret_variable("HYPERCODE_REGISTRAR_KEY", role_keys["registrar"])
            .with_service_binding("core", core)
            # The task sandbox (bubblewrap) needs namespaces. Inside the engine a non-root
            # user may not create them, and with extra capabilities bwrap refuses to run
            # unless setuid (both measured); as root it uses no user namespace and drops each
            # task to nobody, so the agent service runs as root with root capabilities.
            .with_user("root")
            .as_service(use_entrypoint=True, insecure_root_capabilities=True)
        )
        return ServiceGraph(
            core=core,
            agent=agent,
            jaeger=jaeger,
            client_key=role_keys["client"],
            registrar_key=role_keys["registrar"],
            admin_key=role_keys["admin"],
        )

    async def _given_keys(self, purpose: str) -> dict[str, str]:
        if self.api_keys is None:
            raise StageFailed(f"{purpose} needs --api-keys: the deployment's HYPERCODE_API_KEYS")
        return keys_by_role(await self.api_keys.plaintext())

    async def _graph_keys(self) -> tuple[dagger.Secret, dict[str, str]]:
        """The graph core's HYPERCODE_API_KEYS, and the key of each role for its clients."""
        if self.api_keys is not None:
            return self.api_keys, await self._given_keys("staging")
        api_keys = ephemeral_api_keys()
        return dag.set_secret(f"staging-api-keys-{time.time_ns()}", api_keys), keys_by_role(
            api_keys
        )

    async def _apply_release(self, tag: str, registry: str, environment: str) -> str:
        """Render an environment's overlay with the release's images, apply it (dry run)."""
        # /release/overlay → ../../src is the repository in the tools container.
        base = environment_overlay("../../src/deploy/k8s", environment)
        overlay = image_overlay(base, release_refs(tag, registry))
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
        applied = (
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
        )  # fmt: skip
        created = await applied.stdout()
        images = rendered_images(await applied.file("/release/rendered.yaml").contents())
        return "\n".join([f"{environment} runs {', '.join(images)}", created.rstrip()])


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
