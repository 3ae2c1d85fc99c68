#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# cluster.sh - a local ringcached cluster on loopback, for trying replication
# (doc/replication.txt) on one machine.
#
# usage: contrib/cluster.sh start [N]    start N nodes (default 3), wait until
#                                        every node sees the others up
#        contrib/cluster.sh status       `members` of each node
#        contrib/cluster.sh demo [KEY]   set KEY through n1, then `ring KEY`
#                                        through every node (the version each
#                                        replica holds)
#        contrib/cluster.sh stop         stop the nodes it started (by PID)
#        contrib/cluster.sh wipe         stop, then delete ./ringcached-cluster
#
# The binary is $RINGCACHED, else $BUILD_DIR/ringcached (BUILD_DIR defaults
# to ./build), else ./ringcached. Nodes are n1..nN; node i listens for
# clients on 127.0.0.1:(PORT_BASE + i - 1) and for peers on
# 127.0.0.1:(PORT_BASE + 1000 + i - 1); PORT_BASE defaults to 21211. Data,
# logs, the shared secret (mode 600) and the PID list live under
# ./ringcached-cluster (CLUSTER_DIR). Replicas = min(3, N), read and write
# quorum 2 (1 for a single node); REPLICAS, READ_QUORUM, WRITE_QUORUM, SYNC
# (--sync mode) and EXTRA_ARGS (more ringcached options) override.
#
# Only the PIDs recorded by `start` are ever signalled, and only while
# /proc/PID/cmdline still names ringcached. Every wait is bounded.
set -u
set -o pipefail

PROG=contrib/cluster.sh
CLUSTER_DIR=${CLUSTER_DIR:-./ringcached-cluster}
PORT_BASE=${PORT_BASE:-21211}
STATE=$CLUSTER_DIR/nodes        # name client_port peer_port pid, one per line

die() {
    echo "$PROG: $*" >&2
    exit 1
}

find_binary() {
    local b
    for b in "${RINGCACHED:-}" "${BUILD_DIR:-./build}/ringcached" ./ringcached; do
        if [ -n "$b" ] && [ -x "$b" ]; then
            (cd "$(dirname "$b")" && echo "$PWD/$(basename "$b")")
            return 0
        fi
    done
    die "no ringcached binary: set BUILD_DIR (default ./build) or RINGCACHED"
}

port_in_use() {
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# True if something listens on the port (connections in TIME-WAIT from a
# previous run do not stop ringcached from binding it).
port_taken() {
    if command -v ss >/dev/null 2>&1; then
        ss -Htln "( sport = :$1 )" 2>/dev/null | grep -q . && return 0
    fi
    port_in_use "$1"
}

# True while PID runs ringcached (guards against a reused PID).
is_ours() {
    local pid=$1
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q ringcached
}

# One request to a node; prints the reply lines (without \r) up to the
# first final line (END, STORED, ERROR, ...), waiting at most 3 s.
rc_cmd() {
    local port=$1 req=$2 line
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf '%b' "$req" >&3
    while IFS= read -r -t 3 line <&3; do
        line=${line%$'\r'}
        echo "$line"
        case $line in
        END | STORED | NOT_STORED | EXISTS | DELETED | NOT_FOUND | ERROR | *_ERROR*) break ;;
        STORED\ *) break ;;
        esac
    done
    exec 3<&- 3>&-
    return 0
}

# An admin command at the top level, or as "stats <cmd>" for builds whose
# text codec does not parse it at the top level yet.
rc_admin() {
    local port=$1 cmd=$2 out
    out=$(rc_cmd "$port" "$cmd\r\n")
    if [ "$out" = ERROR ]; then
        out=$(rc_cmd "$port" "stats $cmd\r\n")
    fi
    printf '%s\n' "$out"
}

read_state() {
    [ -r "$STATE" ] || return 1
    NAMES=() CPORTS=() PPORTS=() PIDS=()
    local n c p pid
    while read -r n c p pid; do
        NAMES+=("$n") CPORTS+=("$c") PPORTS+=("$p") PIDS+=("$pid")
    done <"$STATE"
    [ "${#NAMES[@]}" -gt 0 ]
}

any_running() {
    local i
    read_state || return 1
    for i in "${!PIDS[@]}"; do
        is_ours "${PIDS[$i]}" && return 0
    done
    return 1
}

# ------------------------------------------------------------ start
cmd_start() {
    local n=${1:-3} bin i name cport pport peers j r w nrep secret
    case $n in '' | *[!0-9]*) die "start: N must be a number, got '$n'" ;; esac
    if [ "$n" -lt 1 ] || [ "$n" -gt 16 ]; then
        die "start: N must be from 1 to 16"
    fi
    bin=$(find_binary) || exit 1
    any_running && die "a cluster is already running (see '$PROG status'; '$PROG stop' first)"
    mkdir -p "$CLUSTER_DIR" || die "cannot create $CLUSTER_DIR"
    secret=$CLUSTER_DIR/secret
    if [ ! -s "$secret" ]; then
        # 40 hex digits from 20 random bytes
        (umask 077 && od -An -tx1 -N20 /dev/urandom | tr -d ' \n' >"$secret" &&
            echo >>"$secret") || die "cannot write $secret"
    fi
    chmod 600 "$secret"

    nrep=${REPLICAS:-$((n < 3 ? n : 3))}
    r=${READ_QUORUM:-$((nrep < 2 ? 1 : 2))}
    w=${WRITE_QUORUM:-$((nrep < 2 ? 1 : 2))}
    local root=()
    [ "$(id -u)" -eq 0 ] && root=(-u root)

    for i in $(seq 1 "$n"); do
        cport=$((PORT_BASE + i - 1))
        pport=$((PORT_BASE + 1000 + i - 1))
        port_taken "$cport" && die "port $cport is in use (set PORT_BASE=...)"
        port_taken "$pport" && die "port $pport is in use (set PORT_BASE=...)"
    done

    : >"$STATE"
    for i in $(seq 1 "$n"); do
        name=n$i
        cport=$((PORT_BASE + i - 1))
        pport=$((PORT_BASE + 1000 + i - 1))
        peers=
        for j in $(seq 1 "$n"); do
            [ "$j" -eq "$i" ] && continue
            peers+="${peers:+,}n$j=127.0.0.1:$((PORT_BASE + 1000 + j - 1))"
        done
        mkdir -p "$CLUSTER_DIR/$name"
        local args=("$bin" -l 127.0.0.1 -p "$cport" --data-dir "$CLUSTER_DIR/$name"
            --name "$name" "${root[@]}")
        if [ "$n" -gt 1 ]; then
            args+=(--peer-listen "127.0.0.1:$pport" --peers "$peers"
                --cluster-secret-file "$secret" --replicas "$nrep"
                --read-quorum "$r" --write-quorum "$w")
        fi
        [ -n "${SYNC:-}" ] && args+=(--sync "$SYNC")
        # shellcheck disable=SC2206 # EXTRA_ARGS is split on purpose
        [ -n "${EXTRA_ARGS:-}" ] && args+=(${EXTRA_ARGS})
        nohup "${args[@]}" >>"$CLUSTER_DIR/$name.log" 2>&1 </dev/null &
        echo "$name $cport $pport $!" >>"$STATE"
        echo "$PROG: started $name (pid $!): ${args[*]}" >&2
    done
    read_state || die "lost $STATE"

    # every node accepts clients (10 s each)
    for i in "${!NAMES[@]}"; do
        local ok=0
        for _ in $(seq 1 100); do
            is_ours "${PIDS[$i]}" || break
            if port_in_use "${CPORTS[$i]}"; then ok=1; break; fi
            sleep 0.1
        done
        if [ "$ok" -ne 1 ]; then
            tail -n 5 "$CLUSTER_DIR/${NAMES[$i]}.log" >&2
            cmd_stop >/dev/null
            die "${NAMES[$i]} did not start (log: $CLUSTER_DIR/${NAMES[$i]}.log)"
        fi
    done

    # every node sees every other up (20 s)
    if [ "$n" -gt 1 ]; then
        local all
        for _ in $(seq 1 200); do
            all=1
            for i in "${!NAMES[@]}"; do
                [ "$(rc_admin "${CPORTS[$i]}" members | grep -c '^MEMBER [^ ]* up')" -eq $((n - 1)) ] || {
                    all=0
                    break
                }
            done
            [ "$all" -eq 1 ] && break
            sleep 0.1
        done
        [ "$all" -eq 1 ] || echo "$PROG: warning: not every node sees the others up after 20 s; see '$PROG status'" >&2
    fi

    echo "ringcached cluster of $n node(s) on 127.0.0.1 (N=$nrep R=$r W=$w); data under $CLUSTER_DIR"
    echo
    for i in "${!NAMES[@]}"; do
        echo "  ${NAMES[$i]}  clients 127.0.0.1:${CPORTS[$i]}  peers 127.0.0.1:${PPORTS[$i]}  pid ${PIDS[$i]}  log $CLUSTER_DIR/${NAMES[$i]}.log"
    done
    echo
    echo "Talk to any node with a memcached client, e.g.:"
    echo
    printf '  %s | nc -q1 127.0.0.1 %s     # write through n1\n' "printf 'set hello 0 0 5\\r\\nworld\\r\\n'" "${CPORTS[0]}"
    [ "$n" -gt 1 ] && printf '  %s | nc -q1 127.0.0.1 %s                     # read through n2\n' "printf 'get hello\\r\\n'" "${CPORTS[1]}"
    printf '  %s | nc -q1 127.0.0.1 %s                    # the replicas of hello and their versions\n' "printf 'ring hello\\r\\n'" "${CPORTS[$((n - 1))]}"
    echo "  (or: telnet 127.0.0.1 ${CPORTS[0]} and type the commands)"
    local servers=
    for i in "${!NAMES[@]}"; do
        servers+="${servers:+,}127.0.0.1:${CPORTS[$i]}"
    done
    echo "  memccat --servers=$servers hello                 # libmemcached over all nodes"
    echo
    echo "  $PROG demo      # does the above: set through n1, ring <key> through every node"
    echo "  $PROG status    # members of each node"
    echo "  $PROG stop      # stop the nodes (data is kept; '$PROG wipe' removes it)"
}

# ------------------------------------------------------------ stop
cmd_stop() {
    local i
    read_state || { echo "$PROG: no cluster recorded in $STATE"; return 0; }
    for i in "${!PIDS[@]}"; do
        if is_ours "${PIDS[$i]}"; then
            kill -TERM "${PIDS[$i]}" 2>/dev/null
        fi
    done
    for i in "${!PIDS[@]}"; do
        for _ in $(seq 1 100); do
            is_ours "${PIDS[$i]}" || break
            sleep 0.1
        done
        if is_ours "${PIDS[$i]}"; then
            echo "$PROG: ${NAMES[$i]} (pid ${PIDS[$i]}) ignored SIGTERM for 10 s; SIGKILL" >&2
            kill -KILL "${PIDS[$i]}" 2>/dev/null
        fi
        echo "stopped ${NAMES[$i]} (pid ${PIDS[$i]})"
    done
    rm -f "$STATE"
}

# ------------------------------------------------------------ status
cmd_status() {
    local i
    read_state || die "no cluster recorded in $STATE (start one: $PROG start)"
    for i in "${!NAMES[@]}"; do
        if ! is_ours "${PIDS[$i]}"; then
            echo "== ${NAMES[$i]} 127.0.0.1:${CPORTS[$i]} (pid ${PIDS[$i]}): NOT RUNNING"
            continue
        fi
        echo "== ${NAMES[$i]} 127.0.0.1:${CPORTS[$i]} (pid ${PIDS[$i]}): members"
        rc_admin "${CPORTS[$i]}" members | sed 's/^/   /'
    done
}

# ------------------------------------------------------------ demo
cmd_demo() {
    local key=${1:-hello} val i
    read_state || die "no cluster recorded in $STATE (start one: $PROG start)"
    val="written through ${NAMES[0]} at $(date +%T)"
    echo "\$ set $key through ${NAMES[0]} (127.0.0.1:${CPORTS[0]})"
    rc_cmd "${CPORTS[0]}" "set $key 0 0 ${#val}\r\n$val\r\n" | sed 's/^/   /'
    sleep 0.2
    for i in "${!NAMES[@]}"; do
        is_ours "${PIDS[$i]}" || { echo "\$ ${NAMES[$i]}: not running"; continue; }
        echo "\$ ring $key through ${NAMES[$i]} (127.0.0.1:${CPORTS[$i]})"
        rc_admin "${CPORTS[$i]}" "ring $key" | sed 's/^/   /'
        echo "\$ get $key through ${NAMES[$i]}"
        rc_cmd "${CPORTS[$i]}" "get $key\r\n" | sed 's/^/   /'
    done
    echo
    echo "Every REPLICA line shows the version that replica holds (\"-\": none, \"?\": no answer);"
    echo "the same version on all three means the write reached them all."
}

case ${1:-} in
start) shift; cmd_start "$@" ;;
stop) cmd_stop ;;
status) cmd_status ;;
demo) shift; cmd_demo "$@" ;;
wipe)
    cmd_stop
    rm -rf "$CLUSTER_DIR"
    echo "removed $CLUSTER_DIR"
    ;;
-h | --help | help | '')
    awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$0"
    ;;
*) die "unknown command '$1' (try --help)" ;;
esac
