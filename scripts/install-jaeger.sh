#!/usr/bin/env bash
# Installs the Jaeger v2 all-in-one binary with its real web UI, and caches it.
#
# Jaeger's UI is its own project (jaeger-ui), which Jaeger's release build compiles with npm
# and embeds (`make build-ui`); the Go module carries only a placeholder page. So, the same
# two steps as Jaeger's own build:
#  1. The UI, jaeger-ui v1.76.0 (the submodule commit Jaeger v1.76.0 pins), from the first of:
#     - the source in ${SWARM_VENDOR_DIR:-<repo>/../shared/vendor}/jaeger-ui/ (npm ci, npm run
#       build), cached per checksum of that archive;
#     - the release assets the jaeger-ui project publishes for that tag (what Jaeger's own
#       scripts/build/rebuild-ui.sh downloads; JAEGER_UI_ASSETS_URL overrides where from);
#     - none: Jaeger then serves its placeholder page, and this script says so.
#  2. Jaeger itself. Not `go install github.com/jaegertracing/jaeger/cmd/jaeger@<version>`:
#     the module path has no /v2, so v2.x tags are invisible to the proxy, and the proxy
#     reachable here serves tagged versions only (no pseudo-versions). The last dual tag is
#     v1.76.0 (= Jaeger v2.13.0), whose go.mod holds a `replace`, which `go install
#     pkg@version` refuses. So: fetch that module with `go mod download` (checked against the
#     Go checksum database), copy it to a writable tree, put the UI gzipped into
#     cmd/query/app/ui/actual/ and build it as the main module, where the replace is honoured.
#
# Idempotent: a cached binary for the same version and UI source is reused; parallel runs
# (several worktrees bootstrapping at once) wait for one build instead of racing.
# Prints the binary's path on stdout (the pipeline's staging image copies that file); one
# progress line per long step on stderr (scripts/lib/progress.sh); what the builds print goes
# to ~/.cache/swarm/logs/install-jaeger.log.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/progress.sh

JAEGER_MODULE="github.com/jaegertracing/jaeger"
JAEGER_TAG="v1.76.0"      # dual tag of Jaeger v2.13.0
JAEGER_VERSION="v2.13.0"
UI_TAG="v1.76.0"          # the jaeger-ui commit that Jaeger v1.76.0 pins
# <repo> is the main checkout, also when this runs in a worktree of it.
REPO="$(dirname "$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || echo "$PWD/.git")")"
UI_ARCHIVE="${SWARM_VENDOR_DIR:-$REPO/../shared/vendor}/jaeger-ui/jaeger-ui-${UI_TAG}-src.tar.gz"
UI_ASSETS_URL="${JAEGER_UI_ASSETS_URL:-https://github.com/jaegertracing/jaeger-ui/releases/download/${UI_TAG}/assets.tar.gz}"
CACHE_ROOT="${SWARM_CACHE_DIR:-$HOME/.cache/swarm}/jaeger"
UI_CACHE="${CACHE_ROOT}/ui"

# The cache entry for one UI source: <Jaeger version>-ui-<source>/jaeger, placeholder: <version>.
binary_for() { echo "${CACHE_ROOT}/${JAEGER_VERSION}${1:+-ui-$1}/jaeger"; }

# Temp dirs removed on exit, whatever happens (a killed build leaves nothing half-done).
TEMP_DIRS=()
cleanup() { for dir in "${TEMP_DIRS[@]}"; do chmod -R u+w "${dir}"; rm -rf "${dir}"; done; }
trap cleanup EXIT
new_temp_dir() {
    mkdir -p "$1"
    TEMP="$(mktemp -d "$1/build.XXXXXX")"
    TEMP_DIRS+=("${TEMP}")
}

vendored_ui_key() {
    [[ -f "${UI_ARCHIVE}" ]] || return 1
    echo "${UI_TAG}-$(sha256sum "${UI_ARCHIVE}" | cut -c1-12)"
}

# Builds the UI from the vendored source into its cache entry, unless it is there already.
build_vendored_ui() {
    local dir="${UI_CACHE}/$1"
    [[ -f "${dir}/index.html" ]] && return 0
    if ! command -v npm >/dev/null; then
        say "npm is needed to build the Jaeger UI from ${UI_ARCHIVE}"
        return 1
    fi
    new_temp_dir "${UI_CACHE}"
    tar -xzf "${UI_ARCHIVE}" --strip-components=1 -C "${TEMP}"
    # Its .npmrc asks for node >= 24; node 20 builds it (proven), so the engine check is off.
    step "installing the Jaeger UI's npm packages" "3-5 min" \
        quietly env -C "${TEMP}" npm ci --engine-strict=false --no-audit --no-fund \
        || fail "npm ci for the Jaeger UI failed"
    step "building the Jaeger UI ${UI_TAG}" "3 min, up to 10 on a busy machine" \
        quietly env -C "${TEMP}" npm run build -w packages/jaeger-ui \
        || fail "building the Jaeger UI failed"
    mv "${TEMP}/packages/jaeger-ui/build" "${dir}"
}

# A release asset of a tag never changes: its cache entry is named after the URL.
released_ui_key() {
    echo "${UI_TAG}-release-$(echo -n "${UI_ASSETS_URL}" | sha256sum | cut -c1-12)"
}

# Fetches the published build of the UI tag into its cache entry, if this machine can reach it.
download_released_ui() {
    local dir="${UI_CACHE}/$1"
    [[ -f "${dir}/index.html" ]] && return 0
    command -v curl >/dev/null || return 1
    new_temp_dir "${UI_CACHE}"
    step "downloading the Jaeger UI ${UI_TAG} release assets" "seconds" \
        quietly curl --fail --silent --show-error --location --connect-timeout 5 --max-time 300 \
        --output "${TEMP}/assets.tar.gz" "${UI_ASSETS_URL}" || return 1
    quietly tar -xzf "${TEMP}/assets.tar.gz" -C "${TEMP}" packages/jaeger-ui/build/ \
        || fail "${UI_ASSETS_URL} holds no packages/jaeger-ui/build/"
    mv "${TEMP}/packages/jaeger-ui/build" "${dir}"
}

# Builds Jaeger with the UI of key $1 embedded (empty: the placeholder) into its cache entry.
build_jaeger() {
    local ui_key=$1 binary
    binary="$(binary_for "${ui_key}")"
    command -v go >/dev/null || fail "'go' (>= 1.24.6) is needed to build Jaeger; install Go first"
    new_temp_dir "$(dirname "${binary}")"
    step "downloading Jaeger ${JAEGER_VERSION}'s Go module and its dependencies" "1-3 min" \
        fetch_jaeger_module "${TEMP}/src" || fail "downloading ${JAEGER_MODULE}@${JAEGER_TAG} failed"
    if [[ -n "${ui_key}" ]]; then
        # Jaeger's `make build-ui`: the build's files, each gzipped, index.html.gz required.
        local assets="${TEMP}/src/cmd/query/app/ui/actual"
        cp -r "${UI_CACHE}/${ui_key}/." "${assets}/"
        find "${assets}" -type f ! -name .gitignore -exec gzip --no-name {} +
    fi
    step "compiling Jaeger ${JAEGER_VERSION}${ui_key:+ with its UI}" "2 min, up to 20 on a busy first run" \
        quietly env -C "${TEMP}/src" CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
        go build -trimpath -ldflags "-X ${JAEGER_MODULE}/internal/version.latestVersion=${JAEGER_VERSION}" \
        -o "${TEMP}/jaeger" ./cmd/jaeger \
        || fail "building Jaeger failed"
    # Rename last: a killed build never leaves a half-written binary that looks finished.
    mv "${TEMP}/jaeger" "${binary}"
}

# The module as a writable main module in $1, its dependencies in the module cache.
fetch_jaeger_module() {
    local module_dir
    module_dir="$(go mod download -json "${JAEGER_MODULE}@${JAEGER_TAG}" 2>>"${PROGRESS_LOG}" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
    [[ -n "${module_dir}" ]] || return 1
    # The module cache is read-only.
    cp -r "${module_dir}" "$1"
    chmod -R u+w "$1"
    quietly env -C "$1" go mod download -x
}

mkdir -p "${CACHE_ROOT}"
# Fast path, no lock: the binary for this machine's UI source is already there.
key="$(vendored_ui_key || released_ui_key)"
if [[ -x "$(binary_for "${key}")" ]]; then
    binary_for "${key}"
    exit 0
fi

exec 9>"${CACHE_ROOT}/install.lock"
if ! flock --nonblock 9; then
    say "another Jaeger build is running (another worktree?); waiting for it"
    flock 9
fi
: >"${PROGRESS_LOG}"
if key="$(vendored_ui_key)" && build_vendored_ui "${key}"; then
    UI_KEY="${key}"
elif key="$(released_ui_key)" && download_released_ui "${key}"; then
    UI_KEY="${key}"
else
    UI_KEY=""
    say "no Jaeger UI source here (no ${UI_ARCHIVE}, no download):" \
        "Jaeger serves its placeholder page; the query API works"
fi
[[ -x "$(binary_for "${UI_KEY}")" ]] || build_jaeger "${UI_KEY}"
binary_for "${UI_KEY}"
