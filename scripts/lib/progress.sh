# Progress lines for the install scripts (sourced, not run): one line as a step starts, with
# what it does and roughly how long it takes, one when it is done; what the step's commands
# print goes to a log file that an error points to.
#
#   PROGRESS_NAME=bootstrap                      # prefix of every line (default: script name)
#   PROGRESS_LOG=~/.cache/swarm/logs/x.log       # default: ~/.cache/swarm/logs/<name>.log
#   source scripts/lib/progress.sh
#   step "building X" "about 2 min" quietly make x || fail "building X failed"
#
# Lines go to stderr, so a script's stdout stays its result (install-jaeger prints a path).

PROGRESS_NAME="${PROGRESS_NAME:-$(basename "$0" .sh)}"
PROGRESS_LOG="${PROGRESS_LOG:-${SWARM_CACHE_DIR:-$HOME/.cache/swarm}/logs/${PROGRESS_NAME}.log}"
mkdir -p "$(dirname "${PROGRESS_LOG}")"

say() { echo "${PROGRESS_NAME}: $*" >&2; }

# step WHAT ROUGHLY COMMAND...: run COMMAND between a start line and a "done in N s" line;
# returns COMMAND's status (the caller says what failed, with fail).
step() {
    local what=$1 roughly=$2 started=$SECONDS
    shift 2
    say "${what} (${roughly}) ..."
    "$@" || return
    say "${what}: done in $((SECONDS - started)) s"
}

# quietly COMMAND...: COMMAND with its output appended to the log, at a long build's priority
# (nice runs programs only: a shell function runs at ours).
quietly() {
    if [[ "$(type -t "$1")" == function ]]; then "$@"; else nice -n 10 "$@"; fi >>"${PROGRESS_LOG}" 2>&1
}

# fail MESSAGE: say what failed, where the whole story is, and its last lines; exit 1.
fail() {
    say "$*; the full output is in ${PROGRESS_LOG}, which ends with:"
    tail -n 15 "${PROGRESS_LOG}" | sed 's/^/    /' >&2
    exit 1
}
