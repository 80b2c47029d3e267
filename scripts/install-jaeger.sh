#!/usr/bin/env bash
# Installs the Jaeger v2 all-in-one binary from the Go module proxy and caches it.
#
# Why not `go install github.com/jaegertracing/jaeger/cmd/jaeger@<version>`:
# the module path has no /v2, so v2.x tags are invisible to the proxy, and the
# proxy reachable here serves tagged versions only (no pseudo-versions). The last
# dual tag is v1.76.0 (= Jaeger v2.13.0), whose go.mod holds a `replace`, which
# `go install pkg@version` refuses. So: fetch that module with `go mod download`
# (checked against the Go checksum database) and build it as the main module, where the
# replace is honoured.
# Idempotent: an existing cached binary of the pinned version is reused.
# Prints the binary's path on stdout; build output goes to stderr.
set -euo pipefail

JAEGER_MODULE="github.com/jaegertracing/jaeger"
JAEGER_TAG="v1.76.0"      # dual tag of Jaeger v2.13.0
JAEGER_VERSION="v2.13.0"
CACHE_DIR="${SWARM_CACHE_DIR:-$HOME/.cache/swarm}/jaeger/${JAEGER_VERSION}"
BINARY="${CACHE_DIR}/jaeger"

if [[ -x "${BINARY}" ]]; then
    echo "${BINARY}"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "install-jaeger: 'go' (>= 1.24.6) is needed to build Jaeger; install Go first" >&2
    exit 1
fi

mkdir -p "${CACHE_DIR}"
# Build in a temp dir, then rename: a killed build never leaves a half-written
# binary that a later run would take for a finished one.
build_dir="$(mktemp -d "${CACHE_DIR}/build.XXXXXX")"
trap 'chmod -R u+w "${build_dir}"; rm -rf "${build_dir}"' EXIT

echo "install-jaeger: building Jaeger ${JAEGER_VERSION} (${JAEGER_MODULE}@${JAEGER_TAG}); this takes several minutes" >&2
module_dir="$(go mod download -json "${JAEGER_MODULE}@${JAEGER_TAG}" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
# The module cache is read-only; the build writes nothing there, but copy so
# the tree is an ordinary main module whatever GOFLAGS the caller has.
cp -r "${module_dir}" "${build_dir}/src"
chmod -R u+w "${build_dir}/src"
(
    cd "${build_dir}/src"
    CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath \
        -ldflags "-X ${JAEGER_MODULE}/internal/version.latestVersion=${JAEGER_VERSION}" \
        -o "${build_dir}/jaeger" ./cmd/jaeger >&2
)
mv "${build_dir}/jaeger" "${BINARY}"
echo "${BINARY}"
