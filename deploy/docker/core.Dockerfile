# hypercode-core: the FastAPI task-execution service.
# Build context: the repository root, e.g.
#   docker build -f deploy/docker/core.Dockerfile --build-arg PYTHON_IMAGE=python:3.11-slim .
# The pipeline builds it with Directory.docker_build (its source already ignores .venv,
# .git and caches, as a .dockerignore would).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS deps
ARG UV_VERSION=0.13.8
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /srv
COPY pyproject.toml uv.lock ./
# Only the service's locked runtime dependencies: no dev group, no agent extra.
RUN UV_PROJECT_ENVIRONMENT=/srv/.venv uv sync --frozen --no-dev --no-install-project --no-cache

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 hypercode \
    && useradd --system --uid 10001 --gid 10001 --home-dir /srv --shell /usr/sbin/nologin hypercode \
    && mkdir -p /srv/var \
    && chown hypercode /srv/var
WORKDIR /srv
COPY --from=deps /srv/.venv /srv/.venv
COPY contract ./contract
COPY app ./app
ENV PATH=/srv/.venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HYPERCODE_DATABASE_URL=sqlite:////srv/var/hypercode.db
# The SQLite file lives here; mount a volume (or use PostgreSQL) to keep it.
VOLUME ["/srv/var"]
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["uvicorn", "app.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
