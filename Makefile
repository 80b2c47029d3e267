# The two commands of the README: `make demo` (the showcase) and `make test`.
# Every target installs what it needs first (scripts/bootstrap.sh, idempotent and cached).
VENV := .venv/bin
PYTEST_ARGS ?=

.PHONY: bootstrap test lint typecheck unit demo load jaeger monitoring bench dagger-up test-dagger pipeline

bootstrap:
	@scripts/bootstrap.sh

## The test suite: static checks, then every test tier against real processes. The Dagger
## engine tests need an engine that cannot be built from the registries: `make test-dagger`.
test: bootstrap lint typecheck
	$(VENV)/pytest -q -m "not dagger" $(PYTEST_ARGS) tests

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

typecheck:
	$(VENV)/mypy app agents scripts

## Only the core's API tests (fast feedback while working on app/).
unit: bootstrap
	$(VENV)/pytest -q $(PYTEST_ARGS) tests/app

## The showcase: Jaeger, core on SQLite, agents, k6 swarm load, report. ARGS="--profile full --keep-up"
demo: bootstrap
	$(VENV)/python -m scripts.showcase $(ARGS)

## The k6 swarm load test against a local core + agents. PROFILE=smoke|ci|full (default ci);
## the summary JSON and HTML report land in the printed out dir.
load: bootstrap
	$(VENV)/python -m scripts.load --profile $(or $(PROFILE),ci)

## Jaeger v2 on its standard ports (UI/API 16686, OTLP 4317/4318) until Ctrl-C.
jaeger: bootstrap
	$(VENV)/python -m scripts.stack.jaeger

## With Docker: Jaeger's real UI plus core and agent built from deploy/docker/.
monitoring:
	docker compose -f deploy/docker-compose.monitoring.yml up --build

## Benchmarks (docs/benchmarks.md): core vs bare FastAPI, agents, tracing on vs off.
bench: bootstrap
	$(VENV)/python -m tests.bench.bench_core --rounds 3 --profile ci
	$(VENV)/python -m tests.bench.bench_agent --agents 1 2 4 --tasks 100
	$(VENV)/python -m tests.bench.bench_tracing --rounds 5 --profile ci --sampled-ratio 0.1

## Dagger: an offline engine (docs/dagger-offline.md), its own tests, and the pipeline.
dagger-up:
	scripts/dagger-offline.sh up

test-dagger: bootstrap
	. ~/.cache/swarm/dagger/env.sh && $(VENV)/pytest -q -m dagger tests/dagger

pipeline:
	dagger call ci
