# The two commands of the README: `make demo` (the showcase) and `make test`.
# Every target installs what it needs first (scripts/bootstrap.sh, idempotent and cached).
VENV := .venv/bin
PYTEST_ARGS ?=

.PHONY: bootstrap test lint typecheck unit demo load jaeger monitoring bench dagger-up test-dagger test-workflow pipeline workflow

bootstrap:
	@scripts/bootstrap.sh

## The test suite: static checks, every test tier against real processes, then the engine
## tier: the pipeline itself (`dagger call ci`) and the Dagger engine tests.
test: bootstrap lint typecheck
	$(VENV)/pytest -q -m "not dagger" $(PYTEST_ARGS) tests
	@$(MAKE) --no-print-directory test-dagger

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

typecheck:
	$(VENV)/mypy app agents contract scripts harness

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

## Jaeger v2 with its web UI on its standard ports (UI/API 16686, OTLP 4317/4318) until Ctrl-C,
## serving the traces `make demo` left in ~/.cache/swarm/jaeger/data.
jaeger: bootstrap
	$(VENV)/python -m harness.jaeger

## With Docker: Jaeger's real UI plus core and agent built from deploy/docker/.
monitoring:
	docker compose -f deploy/docker-compose.monitoring.yml up --build

## Benchmarks (docs/benchmarks.md): core vs bare FastAPI, agents, tracing on vs off.
bench: bootstrap
	$(VENV)/python -m tests.bench.bench_core --rounds 3 --profile ci
	$(VENV)/python -m tests.bench.bench_agent --agents 1 2 4 --tasks 100
	$(VENV)/python -m tests.bench.bench_tracing --rounds 5 --profile ci --sampled-ratio 0.1

## Dagger: the engine (an installed Dagger CLI, or one built from ../shared/vendor and run
## offline: docs/dagger-offline.md), then the pipeline on this checkout and the engine tests.
## CI_LOAD_PROFILE: the k6 shape of the pipeline's load stage (smoke keeps a busy 2-core
## machine's verdict honest; the gate is the same code for every profile).
CI_LOAD_PROFILE ?= smoke
DAGGER_ENV := . $(HOME)/.cache/swarm/dagger/env.sh

dagger-up:
	@scripts/dagger-offline.sh up

test-dagger: bootstrap dagger-up
	$(DAGGER_ENV) && dagger call ci --load-profile $(CI_LOAD_PROFILE)
	@echo  # the pipeline's report ends without a newline
	$(DAGGER_ENV) && $(VENV)/pytest -q -m "dagger and not workflow" $(PYTEST_ARGS) tests

## The GitHub workflow run by act three times (pull_request, push, push with the rollback
## drill): each run is nine Dagger sessions, so make test leaves it out (docs/pipeline.md).
test-workflow: bootstrap dagger-up
	$(VENV)/pytest -q -m workflow $(PYTEST_ARGS) tests

pipeline: dagger-up
	$(DAGGER_ENV) && dagger call ci

## The GitHub workflow itself, run here by act with the engine of `make dagger-up`
## (docs/pipeline.md). EVENT=pull_request (default) or EVENT=push (a push to main);
## ACT_ARGS="--var ROLLBACK_DRILL=true": the release fails smoke on purpose, rollback runs.
workflow: bootstrap dagger-up
	$(VENV)/python -m scripts.workflow --event $(or $(EVENT),pull_request) -- $(ACT_ARGS)
