# The coder agent: leases tasks from hypercode-core and runs them in a bubblewrap sandbox.
# Build context: the repository root, e.g.
#   docker build -f deploy/docker/agent.Dockerfile --build-arg PYTHON_IMAGE=python:3.11-slim .
# Needs HYPERCODE_URL and HYPERCODE_REGISTRAR_KEY at run time. The sandbox (bubblewrap, run
# by this non-root user) creates namespaces and mounts a fresh /proc, which a container's
# default seccomp profile and /proc masks forbid ("Can't mount proc ... not permitted"):
#   docker run --security-opt seccomp=unconfined --security-opt systempaths=unconfined ...
# (Dagger: insecure root capabilities; Kubernetes: see deploy/k8s/agent.yaml).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS deps
COPY agents/coder/requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/agent \
    && /opt/agent/bin/pip install --no-cache-dir -r /tmp/requirements.txt

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10002 coder \
    && useradd --system --uid 10002 --gid 10002 --home-dir /srv --shell /usr/sbin/nologin coder
WORKDIR /srv
COPY --from=deps /opt/agent /opt/agent
COPY contract ./contract
COPY agents ./agents
ENV PATH=/opt/agent/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10002:10002
# No port and no HEALTHCHECK: the agent only makes outgoing calls, and the core already
# notices a dead agent (its leases expire). `HEALTHCHECK NONE` would stop Dagger from
# starting it as a service ("container does not have a healthcheck command").
ENTRYPOINT ["python", "-m", "agents.coder.main"]
