# Debian's Docker registry: serves the base images to the engine as a docker.io mirror.
ARG BASE_IMAGE=swarm/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends docker-registry \
    && rm -rf /var/lib/apt/lists/*
COPY registry.yml /etc/docker/registry/config.yml
EXPOSE 5000
VOLUME /var/lib/docker-registry
# The user Debian's package creates; it owns /var/lib/docker-registry.
USER docker-registry
CMD ["docker-registry", "serve", "/etc/docker/registry/config.yml"]
