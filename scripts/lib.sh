# Helpers shared by scripts/test and scripts/services/*.sh. Source it; don't run it.
# shellcheck shell=bash

# Seconds since the epoch, for step timings.
now_s() { date +%s; }

# A section header: `section "cargo clippy"`.
section() {
    printf '\n\033[1m==> %s\033[0m\n' "$*"
}

# Runs one step with a header and its duration: `step "name" cmd args...`.
# The name of the running step is kept in CURRENT_STEP for the failure message.
CURRENT_STEP=""
step() {
    local name=$1
    shift
    CURRENT_STEP=$name
    section "$name"
    local t0
    t0=$(now_s)
    "$@"
    printf '    (%s: %ss)\n' "$name" "$(($(now_s) - t0))"
    CURRENT_STEP=""
}

# Prints a message to stderr and exits non-zero.
die() {
    printf '\033[31merror:\033[0m %s\n' "$*" >&2
    exit 1
}

# Cleanup commands run at exit in reverse order of registration (services' stops).
CLEANUPS=()
on_exit() { CLEANUPS+=("$*"); }
run_cleanups() {
    local i
    for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${CLEANUPS[i]}" || true
    done
}
