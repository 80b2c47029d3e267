#!/usr/bin/env bash
# Runs a Dagger engine on a machine that reaches no container registry (the project's
# sandbox machines). A laptop with internet access skips all this and installs Dagger.
#
#   scripts/dagger-offline.sh up      # images, registry, engine; idempotent (default)
#   scripts/dagger-offline.sh env     # print the exports that point dagger / dagger-io at it
#   scripts/dagger-offline.sh status  # engine and registry containers, engine version
#   scripts/dagger-offline.sh down    # stop the containers (images and state volumes stay)
#
# DAGGER_ENGINE_IMAGE runs another local engine image instead of the one built here, for
# example one that adds the builtin SDKs that `dagger call` needs (docs/dagger-offline.md).
#
# It needs the Dagger binaries of one release in $DAGGER_BIN_DIR (dagger, dagger-engine,
# dagger-init, dagger-dnsname, dagger-dialstdio; see docs/dagger-offline.md) and root.
# Everything else comes from Debian: docker.io runs an engine container assembled around
# those binaries, and a registry container serves debootstrapped base images to the
# engine as its docker.io mirror. The engine changes iptables and DNS only inside its
# own container, never on the host.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${DAGGER_OFFLINE_CACHE:-$HOME/.cache/swarm/dagger}
DAGGER_BIN_DIR=${DAGGER_BIN_DIR:-$CACHE_DIR/bin}
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
    ((${#missing[@]} == 0)) && return
    log "installing ${missing[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
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

check_binaries() {
    local name
    for name in "${BINARIES[@]}"; do
        [[ -x $DAGGER_BIN_DIR/$name ]] || die "missing $DAGGER_BIN_DIR/$name (see docs/dagger-offline.md)"
    done
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

# Logs go to a file: Docker 28's client warns about the legacy builder on every build.
build_image() {
    local context=$1 recipe=$2 tag=$3
    nice -n 10 docker build -q -f "$context/$recipe" -t "$tag" "$context" \
        >>"$CACHE_DIR/build.log" 2>&1 || die "docker build $recipe failed; see $CACHE_DIR/build.log"
}

build_images() {
    local context=$1 version=$2
    log "building images (docker caches unchanged steps)"
    build_image "$context" python.Dockerfile swarm/python:3.11
    build_image "$context" jaeger.Dockerfile swarm/jaeger:2.13.0
    build_image "$context" registry.Dockerfile swarm/registry
    build_image "$context" engine.Dockerfile "swarm/dagger-engine:$version"
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
    local version=$1 registry_ip
    registry_ip=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" "$REGISTRY")
    ensure_container "$ENGINE" "${DAGGER_ENGINE_IMAGE:-swarm/dagger-engine:$version}" \
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
    check_binaries
    start_dockerd
    local version context
    version=$(dagger_version)
    import_debian_base
    context=$(prepare_context)
    build_images "$context" "$version"
    docker network inspect "$NETWORK" >/dev/null 2>&1 || docker network create "$NETWORK" >/dev/null
    start_registry
    push_mirrored_images
    start_engine "$version"
    print_env >"$CACHE_DIR/env.sh"
    log "engine $version is up; point clients at it with: source $CACHE_DIR/env.sh"
}

status() {
    docker ps -a --filter "name=^($ENGINE|$REGISTRY)$" --format '{{.Names}}\t{{.Image}}\t{{.Status}}'
    _EXPERIMENTAL_DAGGER_RUNNER_HOST=docker-container://$ENGINE "$DAGGER_BIN_DIR/dagger" core version
}

down() { docker rm -f "$ENGINE" "$REGISTRY" >/dev/null 2>&1 || true; }

case ${1:-up} in
    up) up ;;
    env) print_env ;;
    status) status ;;
    down) down ;;
    *) die "usage: $0 [up|env|status|down]" ;;
esac
