# SPDX-License-Identifier: BSD-3-Clause
#
# bench-lib.sh - process hygiene shared by contrib/bench.sh and
# contrib/bench-cluster.sh (sourced, not run): a private temp dir, the list
# of PIDs the script started, stopping exactly those (TERM, up to 5 s, then
# KILL, reaped) on exit, the -u root arguments a root run needs, and port
# checks on loopback. The sourcing script sets BENCH_TMP_NAME first and
# defines die().

TMP=$(mktemp -d "${TMPDIR:-/tmp}/${BENCH_TMP_NAME:-rc-bench}.XXXXXX") || die "mktemp failed"
STARTED_PIDS=()

# Stops one PID we started: TERM, up to 5 s, then KILL; reaps it and forgets
# it, so cleanup never signals a PID that may have been reused.
stop_pid() {
    local pid=$1 i keep=()
    for i in "${STARTED_PIDS[@]}"; do
        [ "$i" = "$pid" ] || keep+=("$i")
    done
    STARTED_PIDS=("${keep[@]}")
    if kill -TERM "$pid" 2>/dev/null; then
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid"
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ROOT_ARGS=()
if [ "$(id -u)" -eq 0 ]; then
    ROOT_ARGS=(-u root)
fi

port_in_use() {
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# True if any socket (listener or either end of a connection) uses the port.
port_taken() {
    if command -v ss >/dev/null 2>&1; then
        ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q . && return 0
    fi
    port_in_use "$1"
}

# The command as run, for a report, without this machine's paths: the
# script by its place in the tree and a leading build directory argument
# as BUILD_DIR. Usage: bench_command_line "$0" "${ORIGINAL_ARGS[@]}"
bench_command_line() {
    local line
    line="contrib/$(basename "$1")"
    shift
    if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
        line="$line BUILD_DIR"
        shift
    fi
    echo "$line $*"
}
