#!/usr/bin/env bash
# Runs a Dagger engine on a machine that reaches no container registry (the project's
# sandbox machines). A machine with internet access skips all this: with the Dagger CLI
# installed the usual way, `dagger` starts the official engine by itself.
#
#   scripts/dagger-offline.sh up      # binaries, images, registry, engine; idempotent (default)
#   scripts/dagger-offline.sh env     # print the exports that point dagger / dagger-io at it
#   scripts/dagger-offline.sh status  # engine and registry containers, engine version
#   scripts/dagger-offline.sh down    # stop the containers (images and state volumes stay)
#
# The Dagger binaries come from scripts/install-dagger.sh (built from the vendored source,
# cached). Everything else comes from Debian: docker.io runs an engine container assembled
# around those binaries, with the two builtin SDKs that module mode (`dagger call`) needs
# in its content store, and a registry container serves debootstrapped base images to the
# engine as its docker.io mirror. The engine changes iptables and DNS only inside its own
# container, never on the host. Needs root.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$REPO_ROOT/scripts/lib/debian.sh"
CACHE_DIR=${DAGGER_OFFLINE_CACHE:-$HOME/.cache/swarm/dagger}
# Set by `up` (scripts/install-dagger.sh), or by the caller for the other commands.
DAGGER_BIN_DIR=${DAGGER_BIN_DIR:-}
# The uv release that Dagger's Python SDK runtime pins (sdk/python/runtime/images/uv) and
# the shiv release that Dagger's own build bundles the SDK's codegen with.
SDK_UV_VERSION=0.10.3
SDK_SHIV_VERSION=1.0.8
DEBIAN_SUITE=bookworm
# Empty: debootstrap's default mirror.
DEBIAN_MIRROR=${DEBIAN_MIRROR:-}
NETWORK=dagger-offline
ENGINE=dagger-engine-offline
REGISTRY=swarm-registry
# Host side of the registry, for pushing; the engine reaches it as swarm-registry:5000.
REGISTRY_HOST_PORT=${DAGGER_OFFLINE_REGISTRY_PORT:-5055}
# Local stand-ins pushed to the mirror under the docker.io names the pipeline pulls.
declare -A MIRRORED_IMAGES=(
    [swarm/python:3.11]=library/python:3.11-slim
    [swarm/jaeger:2.13.0]=jaegertracing/jaeger:2.13.0
)
BINARIES=(dagger dagger-engine dagger-init dagger-dnsname dagger-dialstdio)

log() { echo "dagger-offline: $*" >&2; }
die() { log "$*"; exit 1; }

require_root() { [[ $(id -u) == 0 ]] || die "run as root (docker, debootstrap)"; }

install_debian_tools() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v skopeo >/dev/null || missing+=(skopeo)
    ((${#missing[@]} == 0)) && return
    log "installing ${missing[*]} from Debian (1-2 min)"
    install_debian_packages "${missing[@]}" >/dev/null
}

start_dockerd() {
    docker info >/dev/null 2>&1 && return
    log "starting dockerd (log: $CACHE_DIR/dockerd.log)"
    nohup dockerd >"$CACHE_DIR/dockerd.log" 2>&1 &
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && return
        sleep 1
    done
    die "dockerd did not come up; see $CACHE_DIR/dockerd.log"
}

dagger_version() { "$DAGGER_BIN_DIR/dagger" version | awk '{print $2}'; }

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Debian bookworm from debootstrap plus this machine's CA certificates (outbound TLS is
# intercepted here; the engine also copies them into every Debian-like container it runs).
import_debian_base() {
    image_exists "swarm/debian:$DEBIAN_SUITE" && return
    local rootfs=$CACHE_DIR/rootfs-$DEBIAN_SUITE
    if [[ ! -f $rootfs/.complete ]]; then
        log "debootstrap $DEBIAN_SUITE (a few minutes, once)"
        rm -rf "$rootfs"
        nice -n 10 debootstrap --variant=minbase --include=ca-certificates \
            "$DEBIAN_SUITE" "$rootfs" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"} >"$CACHE_DIR/debootstrap.log"
        touch "$rootfs/.complete"
    fi
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
    fi
    tar -C "$rootfs" --exclude=./.complete -c . |
        docker import -c 'CMD ["bash"]' - "swarm/debian:$DEBIAN_SUITE" >/dev/null
}

# The build context: the recipes from deploy/dagger-engine and the binaries.
prepare_context() {
    local context=$CACHE_DIR/context
    rm -rf "$context"
    mkdir -p "$context/bin"
    cp "$REPO_ROOT"/deploy/dagger-engine/* "$context/"
    cp "${BINARIES[@]/#/$DAGGER_BIN_DIR/}" "$context/bin/"
    cp "$("$REPO_ROOT/scripts/install-jaeger.sh")" "$context/bin/jaeger"
    echo "$context"
}

# Module mode needs the engine's builtin Go and Python SDKs: OCI images in its content
# store (/usr/local/share/dagger/content), found through the manifest digests in
# DAGGER_GO_SDK_MANIFEST_DIGEST and DAGGER_PYTHON_SDK_MANIFEST_DIGEST. Built here from
# Dagger's source and cached by the recipes' and the binaries' checksums; prints the
# directory holding content/blobs and the two digests.
sdk_content() {
    local source=$1 version=$2 key dir
    key=$(cat "$REPO_ROOT"/deploy/dagger-engine/*-sdk.Dockerfile "$DAGGER_BIN_DIR/codegen" \
        "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)
    dir=$CACHE_DIR/sdk-$version-$key
    if [[ ! -f $dir/.complete ]]; then
        local started=$SECONDS work
        log "building the builtin Go and Python SDK images (~5 min, once; log: $CACHE_DIR/build.log)"
        rm -rf "$dir"
        work=$(mktemp -d "$CACHE_DIR/sdk-build.XXXXXX")
        build_go_sdk "$source" "$version" "$work/go-context"
        build_python_sdk "$source" "$version" "$work/python-context"
        mkdir -p "$work/layout"
        for sdk in go python; do
            skopeo copy --quiet "docker-daemon:swarm/dagger-$sdk-sdk:$version" \
                "oci:$work/layout/$sdk:$version" >>"$CACHE_DIR/build.log" 2>&1 ||
                die "exporting the $sdk SDK image failed; see $CACHE_DIR/build.log"
            mkdir -p "$work/content/blobs/sha256"
            cp -n "$work/layout/$sdk/blobs/sha256/"* "$work/content/blobs/sha256/"
            python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' \
                "$work/layout/$sdk/index.json" >"$work/content/$sdk.digest"
        done
        mkdir -p "$dir"
        mv "$work/content" "$dir/content"
        rm -rf "$work"
        touch "$dir/.complete"
        log "built the SDK images in $((SECONDS - started)) s"
    fi
    echo "$dir"
}

# The Go SDK: a Go toolchain (the one that built Dagger), git, Dagger's codegen, and a
# file module proxy with the modules that the Go module proxy refuses here, first in
# GOPROXY for the codegen's `go get dagger.io/dagger@<lib version>`. The module cache is
# seeded with what the Go SDK and the Python SDK's runtime module need.
build_go_sdk() {
    local source=$1 version=$2 context=$3 goroot
    mkdir -p "$context/bin"
    goroot=$(cd "$source" && go env GOROOT)
    cp -a "$goroot" "$context/go"
    cp "$DAGGER_BIN_DIR/codegen" "$context/bin/codegen"
    cp -a "$("$REPO_ROOT/scripts/install-dagger.sh" --goproxy)" "$context/goproxy"
    (
        export GOMODCACHE=$context/gomod GOFLAGS=-modcacherw
        cd "$source/sdk/go" && go mod download
        cd "$source/sdk/python/runtime" && go mod download
    ) >>"$CACHE_DIR/build.log" 2>&1 || die "seeding the Go SDK's module cache failed; see $CACHE_DIR/build.log"
    cp "$REPO_ROOT/deploy/dagger-engine/go-sdk.Dockerfile" "$context/"
    nice -n 10 docker build -q -f "$context/go-sdk.Dockerfile" \
        --build-arg "GOPROXY_FALLBACK=$(go env GOPROXY)" \
        -t "swarm/dagger-go-sdk:$version" "$context" >>"$CACHE_DIR/build.log" 2>&1 ||
        die "docker build go-sdk.Dockerfile failed; see $CACHE_DIR/build.log"
}

# The Python SDK: its sources (without the parts that only clients use), the uv binaries
# of the release its runtime pins, and its codegen bundled into one zipapp with shiv, as
# Dagger's own release build lays them out.
build_python_sdk() {
    local source=$1 version=$2 context=$3 sdk=$1/sdk/python rootfs=$3/rootfs
    mkdir -p "$rootfs/dist" "$context/wheel"
    cp -a "$sdk/pyproject.toml" "$sdk/uv.lock" "$sdk/LICENSE" "$sdk/README.md" \
        "$sdk/src" "$sdk/codegen" "$sdk/runtime" "$rootfs/"
    rm -rf "$rootfs/src/dagger/_engine" "$rootfs/src/dagger/provisioning"
    (
        python3 -m pip download --quiet --no-deps --only-binary=:all: \
            --platform manylinux_2_17_x86_64 -d "$context/wheel" "uv==$SDK_UV_VERSION"
        python3 -m zipfile -e "$context"/wheel/uv-*.whl "$context/wheel/unpacked"
        install -m 0755 "$context"/wheel/unpacked/uv-*.data/scripts/uv \
            "$context"/wheel/unpacked/uv-*.data/scripts/uvx "$rootfs/dist/"
        cd "$rootfs"
        dist/uv export --frozen --no-hashes --no-editable --package codegen -o "$context/codegen.txt"
        dist/uvx "shiv==$SDK_SHIV_VERSION" --reproducible --compressed \
            -e codegen.cli:main -o "$rootfs/dist/codegen" -r "$context/codegen.txt"
    ) >>"$CACHE_DIR/build.log" 2>&1 || die "building the Python SDK failed; see $CACHE_DIR/build.log"
    cp "$REPO_ROOT/deploy/dagger-engine/python-sdk.Dockerfile" "$context/"
    docker build -q -f "$context/python-sdk.Dockerfile" -t "swarm/dagger-python-sdk:$version" \
        "$context" >>"$CACHE_DIR/build.log" 2>&1 ||
        die "docker build python-sdk.Dockerfile failed; see $CACHE_DIR/build.log"
}

# Logs go to a file: Docker 28's client warns about the legacy builder on every build.
build_image() {
    local context=$1 recipe=$2 tag=$3
    nice -n 10 docker build -q -f "$context/$recipe" -t "$tag" "$context" \
        >>"$CACHE_DIR/build.log" 2>&1 || die "docker build $recipe failed; see $CACHE_DIR/build.log"
}

build_images() {
    local context=$1
    log "building the stand-in images (docker caches unchanged steps)"
    build_image "$context" python.Dockerfile swarm/python:3.11
    build_image "$context" jaeger.Dockerfile swarm/jaeger:2.13.0
    build_image "$context" registry.Dockerfile swarm/registry
}

# The engine image: the binaries, Debian's runtime parts and the builtin SDKs; tagged by
# the checksum of all of it, so an unchanged engine is neither rebuilt nor restarted.
engine_image() {
    local context=$1 version=$2 sdk=$3 tag
    tag=swarm/dagger-engine:$version-$(cat "$context"/bin/dagger* "$context/engine.Dockerfile" \
        "$context/engine.json" "$context/engine-entrypoint.sh" "$sdk"/content/*.digest |
        sha256sum | cut -c1-12)
    if ! image_exists "$tag"; then
        log "building the engine image"
        cp -a "$sdk/content" "$context/content"
        nice -n 10 docker build -q -f "$context/engine.Dockerfile" \
            --build-arg "GO_SDK_DIGEST=$(cat "$sdk/content/go.digest")" \
            --build-arg "PYTHON_SDK_DIGEST=$(cat "$sdk/content/python.digest")" \
            -t "$tag" "$context" >>"$CACHE_DIR/build.log" 2>&1 ||
            die "docker build engine.Dockerfile failed; see $CACHE_DIR/build.log"
    fi
    echo "$tag"
}

container_running() { [[ $(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }

# (Re)creates a container unless one runs with the same image build and arguments.
ensure_container() {
    local name=$1 image=$2
    shift 2
    local config
    config=$(echo "$(docker image inspect -f '{{.Id}}' "$image") $*" | sha256sum | cut -c1-16)
    if container_running "$name" &&
        [[ $(docker inspect -f '{{index .Config.Labels "swarm.config"}}' "$name") == "$config" ]]; then
        return
    fi
    docker rm -f "$name" >/dev/null 2>&1 || true
    log "starting $name"
    docker run -d --name "$name" --network "$NETWORK" --restart unless-stopped \
        --label "swarm.config=$config" "$@" "$image" >/dev/null
}

start_registry() {
    ensure_container "$REGISTRY" swarm/registry \
        -p "127.0.0.1:$REGISTRY_HOST_PORT:5000" -v swarm-registry-store:/var/lib/docker-registry
    for _ in $(seq 30); do
        curl -fsS "http://127.0.0.1:$REGISTRY_HOST_PORT/v2/" >/dev/null 2>&1 && return
        sleep 1
    done
    die "registry did not answer on 127.0.0.1:$REGISTRY_HOST_PORT"
}

push_mirrored_images() {
    local local_tag target
    for local_tag in "${!MIRRORED_IMAGES[@]}"; do
        target=127.0.0.1:$REGISTRY_HOST_PORT/${MIRRORED_IMAGES[$local_tag]}
        docker tag "$local_tag" "$target"
        docker push -q "$target" >/dev/null
    done
}

# --privileged fails here (the VM lacks CAP_SYS_RESOURCE), so grant the rest explicitly.
# The engine replaces its resolv.conf with its own dnsmasq, which does not know Docker's
# container names: the registry's address goes into /etc/hosts instead.
start_engine() {
    local image=$1 registry_ip
    registry_ip=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" "$REGISTRY")
    ensure_container "$ENGINE" "$image" \
        --add-host "$REGISTRY:$registry_ip" \
        --cap-add ALL --cap-drop SYS_RESOURCE \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --security-opt systempaths=unconfined \
        -v /sys/fs/cgroup:/sys/fs/cgroup \
        -v dagger-engine-state:/var/lib/dagger
    log "waiting for the engine"
    for _ in $(seq 90); do
        if _EXPERIMENTAL_DAGGER_RUNNER_HOST=docker-container://$ENGINE \
            timeout 20 "$DAGGER_BIN_DIR/dagger" core version >/dev/null 2>&1; then
            return
        fi
        sleep 2
    done
    docker logs --tail 40 "$ENGINE" >&2
    die "engine did not answer; logs above"
}

print_env() {
    cat <<EOF
export _EXPERIMENTAL_DAGGER_RUNNER_HOST=docker-container://$ENGINE
export _EXPERIMENTAL_DAGGER_CLI_BIN=$DAGGER_BIN_DIR/dagger
export PATH=$DAGGER_BIN_DIR:\$PATH
EOF
}

up() {
    require_root
    mkdir -p "$CACHE_DIR"
    install_debian_tools
    DAGGER_BIN_DIR=$("$REPO_ROOT/scripts/install-dagger.sh")
    if [[ ! -x $DAGGER_BIN_DIR/dagger-engine ]]; then
        echo "export PATH=$DAGGER_BIN_DIR:\$PATH" >"$CACHE_DIR/env.sh"
        log "using the installed $DAGGER_BIN_DIR/dagger: it starts its own engine"
        return
    fi
    start_dockerd
    local version context sdk
    version=$(dagger_version)
    import_debian_base
    sdk=$(sdk_content "$("$REPO_ROOT/scripts/install-dagger.sh" --source)" "$version")
    context=$(prepare_context)
    build_images "$context"
    docker network inspect "$NETWORK" >/dev/null 2>&1 || docker network create "$NETWORK" >/dev/null
    start_registry
    push_mirrored_images
    start_engine "$(engine_image "$context" "$version" "$sdk")"
    print_env >"$CACHE_DIR/env.sh"
    log "engine $version is up; point clients at it with: source $CACHE_DIR/env.sh"
}

status() {
    DAGGER_BIN_DIR=${DAGGER_BIN_DIR:-$("$REPO_ROOT/scripts/install-dagger.sh")}
    docker ps -a --filter "name=^($ENGINE|$REGISTRY)$" --format '{{.Names}}\t{{.Image}}\t{{.Status}}'
    _EXPERIMENTAL_DAGGER_RUNNER_HOST=docker-container://$ENGINE "$DAGGER_BIN_DIR/dagger" core version
}

down() { docker rm -f "$ENGINE" "$REGISTRY" >/dev/null 2>&1 || true; }

case ${1:-up} in
    up) up ;;
    env) DAGGER_BIN_DIR=${DAGGER_BIN_DIR:-$("$REPO_ROOT/scripts/install-dagger.sh")} && print_env ;;
    status) status ;;
    down) down ;;
    *) die "usage: $0 [up|env|status|down]" ;;
esac
