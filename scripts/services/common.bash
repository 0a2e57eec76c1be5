# Helpers shared by scripts/services/*.sh, which source this file; it only defines
# functions. Its name does not end in .sh, so scripts/test does not take it for a service.
# Needs scripts/lib.sh (die, now_s, on_exit) and SLUICE_SERVICES_DIR.
# shellcheck shell=bash

svc_pidfile() { echo "$SLUICE_SERVICES_DIR/$1.pid"; }
svc_logfile() { echo "$SLUICE_SERVICES_DIR/$1.log"; }

# True when something accepts TCP connections on 127.0.0.1:PORT.
svc_port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Who listens on PORT, as ss tells it (empty when it can't tell).
svc_port_holder() {
    ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:.*' | head -n 1 || true
}

# Prints the pid saved for service NAME when that process is alive and its command line
# contains PATTERN (so a recycled pid is never taken for ours); fails otherwise.
svc_saved_pid() {
    local name=$1 pattern=$2 pidfile pid
    pidfile=$(svc_pidfile "$name")
    [[ -f $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern" || return 1
    echo "$pid"
}

# Prints the last lines of NAME's log to stderr and dies with MESSAGE.
svc_fail() {
    local name=$1 message=$2 log
    log=$(svc_logfile "$name")
    {
        echo "---- last lines of $log:"
        tail -n 40 "$log" 2>/dev/null || echo "(no log)"
        echo "----"
    } >&2
    die "service $name: $message"
}

# svc_start NAME PORT PATTERN TIMEOUT_S CHECK CMD...
#
# Starts service NAME on 127.0.0.1:PORT, or reuses our instance from an earlier run when
# its saved pid is alive (command line containing PATTERN) and `CHECK PORT` passes. An
# instance of ours that is not healthy is stopped and replaced. Dies when PORT is taken by
# anything else. Otherwise runs CMD in the background (output to NAME's log, pid to
# NAME's pid file), registers `on_exit NAME_stop`, and polls `CHECK PORT` until it passes;
# dies with the log's last lines if CMD exits first or TIMEOUT_S pass.
svc_start() {
    local name=$1 port=$2 pattern=$3 timeout=$4 check=$5
    shift 5
    local pid log deadline
    mkdir -p "$SLUICE_SERVICES_DIR"
    log=$(svc_logfile "$name")
    if pid=$(svc_saved_pid "$name" "$pattern"); then
        if "$check" "$port" >/dev/null 2>&1; then
            echo "$name: reusing our instance from an earlier run (pid $pid, port $port)"
            on_exit "${name}_stop"
            return 0
        fi
        echo "$name: our instance (pid $pid) does not answer on port $port; replacing it"
        "${name}_stop"
    fi
    if svc_port_open "$port"; then
        die "service $name: port 127.0.0.1:$port is taken by something else" \
            "($(svc_port_holder "$port")); free it or pick another port (see scripts/services/README.md)"
    fi
    printf '=== %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >"$log"
    "$@" >>"$log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$(svc_pidfile "$name")"
    on_exit "${name}_stop"
    echo "$name: started pid $pid on 127.0.0.1:$port (log $log)"
    deadline=$(($(now_s) + timeout))
    until "$check" "$port" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || svc_fail "$name" "exited before it answered on port $port"
        (($(now_s) < deadline)) || svc_fail "$name" "did not answer on port $port within ${timeout}s"
        sleep 0.2
    done
}

# svc_stop NAME PATTERN: stops the process in NAME's pid file if it is still ours
# (SIGTERM, then SIGKILL after 10 s) and removes the pid file.
svc_stop() {
    local name=$1 pattern=$2 pid i
    if pid=$(svc_saved_pid "$name" "$pattern"); then
        kill "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null || true
        fi
        echo "$name: stopped pid $pid"
    fi
    rm -f "$(svc_pidfile "$name")"
}

# Makes sure SLUICE_PYTHON names the venv python (scripts/python-env), as scripts/test's
# python step exports it; makes the venv (idempotently) and exports it otherwise. Call it
# directly, not in $(...), so that the export reaches the caller.
svc_need_python() {
    if [[ -z ${SLUICE_PYTHON:-} || ! -x ${SLUICE_PYTHON:-} ]]; then
        SLUICE_PYTHON="$("$ROOT/scripts/python-env")" || die "scripts/python-env failed"
        export SLUICE_PYTHON
    fi
}
