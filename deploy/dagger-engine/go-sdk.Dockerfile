# The engine's builtin Go SDK (and the base of the Python SDK's runtime module): a Go
# toolchain, git, Dagger's codegen, a seeded module cache, and a file module proxy first in
# GOPROXY for the modules that the Go module proxy refuses here. The engine seeds its
# gomod and go-build cache volumes from /go/pkg/mod and /root/.cache/go-build.
ARG BASE_IMAGE=swarm/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /root/.cache/go-build
COPY go/ /usr/local/go/
COPY bin/codegen /usr/local/bin/codegen
COPY goproxy/ /opt/goproxy/
COPY gomod/ /go/pkg/mod/
# The host's own GOPROXY list, so that nothing here names a proxy.
ARG GOPROXY_FALLBACK
ENV GOPATH=/go \
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    GOTOOLCHAIN=local \
    GOPROXY=file:///opt/goproxy,${GOPROXY_FALLBACK}
