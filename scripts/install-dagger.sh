#!/usr/bin/env bash
# Provides the Dagger release that dagger.json pins, and prints the directory of its binaries.
#
# - A `dagger` of that version already on PATH (a machine with internet access, installed
#   the usual way): its directory is printed and nothing is built. Such a CLI starts its own
#   engine from the official image; scripts/dagger-offline.sh is not needed.
# - Otherwise, from Dagger's public source in $SWARM_VENDOR_DIR/dagger (default:
#   ../shared/vendor next to the repository) with the file module proxy beside it, which
#   serves the modules that the Go module proxy refuses here: the CLI, the engine and its
#   helpers, and Dagger's codegen (the offline engine's Go SDK image carries it).
# - Neither: one line that says what is missing, exit 1.
#
# Everything lands in ~/.cache/swarm/dagger/<version>-<key>/, keyed by the version and the
# checksums of the vendored files, and is written to a temporary directory first: a second
# run, or one after a killed run, rebuilds nothing that was finished. Build output goes to
# build.log there.
#
#   scripts/install-dagger.sh            # → the bin directory (dagger, dagger-engine, ...)
#   scripts/install-dagger.sh --source   # → the unpacked source tree  } vendor builds only: what
#   scripts/install-dagger.sh --goproxy  # → the file module proxy    } the offline engine's SDKs need
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENDOR_DIR=${SWARM_VENDOR_DIR:-$REPO_ROOT/../shared/vendor}
CACHE_ROOT=${SWARM_CACHE_DIR:-$HOME/.cache/swarm}/dagger
VERSION=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["engineVersion"])' \
    "$REPO_ROOT/dagger.json")
BINARIES=(dagger engine init dnsname dialstdio codegen)

say() { echo "install-dagger: $*" >&2; }
die() { say "$*"; exit 1; }

mode=bin
case ${1:-} in
    "") ;;
    --source) mode=source ;;
    --goproxy) mode=goproxy ;;
    *) die "usage: $0 [--source]" ;;
esac

system_dagger() {
    local path
    path=$(command -v dagger 2>/dev/null) || return 1
    [[ $path == "$CACHE_ROOT"/* ]] && return 1
    [[ $("$path" version 2>/dev/null | awk '{print $2}') == "$VERSION" ]] || return 1
    dirname "$path"
}

if [[ $mode == bin ]] && dir=$(system_dagger); then
    echo "$dir"
    exit 0
fi

SRC_TARBALL=$VENDOR_DIR/dagger/dagger-$VERSION-src.tar.gz
GOPROXY_DIR=$VENDOR_DIR/dagger/goproxy
if [[ ! -f $SRC_TARBALL || ! -d $GOPROXY_DIR ]]; then
    die "no dagger $VERSION on PATH and no Dagger source in $VENDOR_DIR/dagger: install the Dagger CLI $VERSION (with internet access), or set SWARM_VENDOR_DIR to a folder holding dagger/dagger-$VERSION-src.tar.gz and dagger/goproxy/"
fi
command -v go >/dev/null || die "'go' (>= 1.26) is needed to build Dagger from source; install Go first"

vendor_key=$(cd "$VENDOR_DIR/dagger" && find goproxy -type f | sort | xargs sha256sum |
    cat - <(sha256sum "$(basename "$SRC_TARBALL")") | sha256sum | cut -c1-12)
HOME_DIR=$CACHE_ROOT/$VERSION-$vendor_key
BIN_DIR=$HOME_DIR/bin
mkdir -p "$HOME_DIR"
LOG=$HOME_DIR/build.log
export GOPROXY="file://$(cd "$GOPROXY_DIR" && pwd),$(go env GOPROXY)" CGO_ENABLED=0 GOFLAGS=-modcacherw

# The source, unpacked once (read-only afterwards; builds write only to the module cache).
source_tree() {
    local tree=$HOME_DIR/src/dagger-$VERSION
    if [[ ! -f $HOME_DIR/src/.complete ]]; then
        rm -rf "$HOME_DIR/src"
        mkdir -p "$HOME_DIR/src"
        tar -xzf "$SRC_TARBALL" -C "$HOME_DIR/src"
        touch "$HOME_DIR/src/.complete"
    fi
    echo "$tree"
}

build_binaries() {
    local tree tmp started name ldflags
    tree=$(source_tree)
    tmp=$(mktemp -d "$HOME_DIR/bin.XXXXXX")
    chmod 755 "$tmp"
    started=$SECONDS
    say "building Dagger $VERSION from $SRC_TARBALL (cli, engine, helpers; ~15 min on 2 cores, once; log: $LOG)"
    ldflags="-s -w -X github.com/dagger/dagger/engine.Version=$VERSION -X github.com/dagger/dagger/engine.Tag=$VERSION"
    (
        cd "$tree"
        go mod download
        for name in "${BINARIES[@]}"; do
            nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$tmp/$name" "./cmd/$name"
        done
    ) >>"$LOG" 2>&1 || { rm -rf "$tmp"; die "building Dagger failed; see $LOG"; }
    # The names the engine image and the CLI expect.
    for name in engine init dnsname dialstdio; do mv "$tmp/$name" "$tmp/dagger-$name"; done
    rm -rf "$BIN_DIR"
    mv "$tmp" "$BIN_DIR"
    say "built Dagger $VERSION in $((SECONDS - started)) s"
}

[[ -x $BIN_DIR/dagger && -x $BIN_DIR/codegen ]] || build_binaries
[[ $("$BIN_DIR/dagger" version | awk '{print $2}') == "$VERSION" ]] ||
    die "$BIN_DIR/dagger is not $VERSION; remove $HOME_DIR and run again"

case $mode in
    bin) echo "$BIN_DIR" ;;
    source) source_tree ;;
    goproxy) cd "$GOPROXY_DIR" && pwd ;;
esac
