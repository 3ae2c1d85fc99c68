#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# bench-cluster.sh - a 3-node ringcached cluster (N=3 R=2 W=2) against one
# ringcached node, with contrib/loadgen, on loopback.
#
# usage: contrib/bench-cluster.sh [BUILD_DIR] [--quick] [--rounds N]
#                                 [--duration S] [--warmup S] [--keys N]
#
# Defaults: 3 rounds of 10 s measured after 2 s warmup; --quick: 1 round of
# 2 s after 0.5 s (indicative only). Binaries: RINGCACHED
# (BUILD_DIR/ringcached), LOADGEN (BUILD_DIR/contrib/loadgen); BUILD_DIR
# defaults to the current directory. LOADGEN_THREADS (1) sets the
# generator's threads. Exit status 0, or 1 with a message if anything failed.
#
# Method: the cluster (three daemons, each with its own data dir, peer port
# and the same secret) and the single node are started fresh with the same
# flags (-t 2 -m 256 --sync batch) and preloaded once with the same keys
# (through n1 for the cluster, so every key is on all three replicas). Then
# rounds run cluster, single, cluster, single, ... with loadgen pointed at
# node n1 of the cluster and at the single node: (1) get-heavy, 90% get,
# 100 B values, 50 connections, at full load; (2) the same mix from 2
# connections, a light closed-loop load; (3) and (4) the same mix offered
# at a fixed rate, equal for both targets (loadgen --rate: 5000 ops/s over
# 10 connections, 20000 ops/s over 20). Each figure is the median over
# rounds for its target; the ratios are cluster / single.
#
# Targets (the replication issue): cluster throughput >= 0.33 of one node
# (workload 1); cluster p99 <= 3x one node's at the same offered load
# (workloads 3 and 4; the closed-loop p99 ratios are reported too, but each
# side there runs at its own rate).
#
# All the daemons and loadgen share this machine's cores: the three nodes of
# the cluster compete with each other and with the generator, which a real
# deployment (one node per host) does not.
#
# The Markdown report goes to stdout, progress to stderr. The script kills
# only the PIDs it started (trap on EXIT), removes its temp dir and bounds
# every wait.
set -u
set -o pipefail

ARGS_ORIG=("$@")
BUILD_DIR=.
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    BUILD_DIR=$1
    shift
fi
RINGCACHED=${RINGCACHED:-$BUILD_DIR/ringcached}
LOADGEN=${LOADGEN:-$BUILD_DIR/contrib/loadgen}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}

ROUNDS=3
DURATION=10
WARMUP=2
KEYS=100000
QUICK=0
NODES=3
SRV_FLAGS=(-t 2 -m 256 --sync batch)

die() {
    echo "bench-cluster.sh: $*" >&2
    exit 1
}

log() {
    echo "bench-cluster.sh: $*" >&2
}

while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1; ROUNDS=1; DURATION=2; WARMUP=0.5 ;;
    --rounds) [ $# -ge 2 ] || die "--rounds needs a number"; ROUNDS=$2; shift ;;
    --duration) [ $# -ge 2 ] || die "--duration needs seconds"; DURATION=$2; shift ;;
    --warmup) [ $# -ge 2 ] || die "--warmup needs seconds"; WARMUP=$2; shift ;;
    --keys) [ $# -ge 2 ] || die "--keys needs a number"; KEYS=$2; shift ;;
    -h | --help) awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
    esac
    shift
done

[ -x "$LOADGEN" ] || die "loadgen not found at $LOADGEN (build it: make contrib/loadgen, or set LOADGEN=)"
[ -x "$RINGCACHED" ] || die "ringcached not found at $RINGCACHED (set RINGCACHED=)"

# ------------------------------------------------------------ process hygiene

BENCH_TMP_NAME=rc-bench-cluster
# shellcheck source=contrib/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

# A free-looking port below the kernel's ephemeral range, not in $PICKED.
PICKED=" "
pick_port() {
    local p lo=20000 hi
    hi=$(awk '{ print $1 - 1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    [ -n "$hi" ] && [ "$hi" -gt $((lo + 1000)) ] || hi=32767
    for _ in $(seq 1 50); do
        p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
        if [[ $PICKED != *" $p "* ]] && ! port_taken "$p"; then
            PICKED+="$p "
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

wait_port() {
    local pid=$1 port=$2
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        port_in_use "$port" && return 0
        sleep 0.1
    done
    return 1
}

# One admin command to a node; its reply lines up to END (3 s at most).
rc_admin() {
    local port=$1 cmd=$2 line out=
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf '%s\r\n' "$cmd" >&3
    while IFS= read -r -t 3 line <&3; do
        line=${line%$'\r'}
        out+="$line"$'\n'
        case $line in END | ERROR | *_ERROR*) break ;; esac
    done
    exec 3<&- 3>&-
    if [ "$out" = $'ERROR\n' ] && [ "${cmd#stats }" = "$cmd" ]; then
        rc_admin "$port" "stats $cmd"
        return
    fi
    printf '%s' "$out"
}

# start_single: one node; sets SINGLE_PID, SINGLE_PORT.
start_single() {
    local attempt cmd
    for attempt in 1 2 3; do
        SINGLE_PORT=$(pick_port)
        mkdir -p "$TMP/single"
        cmd=("$RINGCACHED" -l 127.0.0.1 -p "$SINGLE_PORT" --data-dir "$TMP/single" --name single
            "${SRV_FLAGS[@]}" "${ROOT_ARGS[@]}")
        "${cmd[@]}" >"$TMP/single.log" 2>&1 &
        SINGLE_PID=$!
        STARTED_PIDS+=("$SINGLE_PID")
        wait_port "$SINGLE_PID" "$SINGLE_PORT" && return 0
        stop_pid "$SINGLE_PID"
        grep -qi 'in use' "$TMP/single.log" || break
        log "port $SINGLE_PORT was taken (attempt $attempt of 3)"
    done
    tail -n 20 "$TMP/single.log" >&2
    die "the single node did not start: ${cmd[*]}"
}

# start_cluster: NODES nodes n1..nN; sets CL_PIDS[], CL_PORTS[] (client).
CL_CMD=
start_cluster() {
    local attempt i j peers pport=() cmd ok
    local secret=$TMP/secret
    (umask 077 && od -An -tx1 -N20 /dev/urandom | tr -d ' \n' >"$secret" && echo >>"$secret") ||
        die "cannot write $secret"
    for attempt in 1 2 3; do
        CL_PIDS=() CL_PORTS=() pport=()
        for i in $(seq 1 "$NODES"); do
            CL_PORTS[i]=$(pick_port)
            pport[i]=$(pick_port)
        done
        ok=1
        for i in $(seq 1 "$NODES"); do
            peers=
            for j in $(seq 1 "$NODES"); do
                [ "$j" -eq "$i" ] || peers+="${peers:+,}n$j=127.0.0.1:${pport[j]}"
            done
            rm -rf "$TMP/n$i"
            mkdir -p "$TMP/n$i"
            cmd=("$RINGCACHED" -l 127.0.0.1 -p "${CL_PORTS[i]}" --data-dir "$TMP/n$i" --name "n$i"
                --peer-listen "127.0.0.1:${pport[i]}" --peers "$peers" --cluster-secret-file "$secret"
                --replicas 3 --read-quorum 2 --write-quorum 2 "${SRV_FLAGS[@]}" "${ROOT_ARGS[@]}")
            "${cmd[@]}" >"$TMP/n$i.log" 2>&1 &
            CL_PIDS[i]=$!
            STARTED_PIDS+=("${CL_PIDS[i]}")
        done
        CL_CMD="${cmd[*]}"
        for i in $(seq 1 "$NODES"); do
            wait_port "${CL_PIDS[i]}" "${CL_PORTS[i]}" || { ok=0; break; }
        done
        if [ "$ok" -eq 1 ]; then
            # every node sees the others up (20 s)
            for _ in $(seq 1 200); do
                ok=1
                for i in $(seq 1 "$NODES"); do
                    [ "$(rc_admin "${CL_PORTS[i]}" members | grep -c '^MEMBER [^ ]* up')" -eq $((NODES - 1)) ] ||
                        { ok=0; break; }
                done
                [ "$ok" -eq 1 ] && return 0
                sleep 0.1
            done
            for i in $(seq 1 "$NODES"); do
                log "members through n$i: $(rc_admin "${CL_PORTS[i]}" members | tr '\n' ' ')"
            done
            die "the cluster's nodes did not all see each other up within 20 s"
        fi
        for i in $(seq 1 "$NODES"); do
            stop_pid "${CL_PIDS[i]}"
        done
        if grep -q 'not available in this build' "$TMP"/n*.log; then
            die "$(grep -h 'not available in this build' "$TMP"/n*.log | head -n 1)"
        fi
        grep -qi 'in use' "$TMP"/n*.log || break
        log "a port was taken (attempt $attempt of 3)"
    done
    tail -n 20 "$TMP"/n*.log >&2
    die "the cluster did not start: $CL_CMD"
}

# ------------------------------------------------------------ measurements

json_num() {
    sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p" <<<"$1"
}

median() {
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 <= 0) print "-";
        else printf "%.2f", a / b }'
}

loadgen_run() {
    local port=$1 bound
    shift
    bound=$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 330 }')
    timeout -k 5 "$bound" "$LOADGEN" --host 127.0.0.1 --port "$port" --json "$@"
}

preload() {
    timeout -k 5 330 "$LOADGEN" --host 127.0.0.1 --port "$1" --json --duration 0 \
        --preload --conns 4 --pipeline 32 --keys "$KEYS" --value-size 100 >/dev/null ||
        die "preload against port $1 failed"
}

# ------------------------------------------------------------ main

log "starting a $NODES-node cluster (N=3 R=2 W=2) and a single node"
start_cluster
start_single
log "preloading $KEYS keys of 100 B (cluster through n1)"
preload "${CL_PORTS[1]}"
preload "$SINGLE_PORT"

declare -A OPS P50 P99 ERR
ROWS=()
# run_pair ID LABEL CONNS [RATE]: interleaved rounds cluster, single; with
# RATE, both are offered the same load (loadgen --rate: latency from each
# request's due time).
run_pair() {
    local id=$1 label=$2 conns=$3 rate=${4:-0} r t port json threads=$LOADGEN_THREADS
    [ "$conns" -lt "$threads" ] && threads=$conns
    declare -A ops_l p50_l p99_l err_n
    log "workload $id: $label"
    for r in $(seq 1 "$ROUNDS"); do
        for t in cluster single; do
            port=$SINGLE_PORT
            [ "$t" = cluster ] && port=${CL_PORTS[1]}
            json=$(loadgen_run "$port" --threads "$threads" --conns "$conns" --get-ratio 0.9 \
                --value-size 100 --keys "$KEYS" --duration "$DURATION" --warmup "$WARMUP" --seed "$r" \
                --rate "$rate") ||
                die "loadgen failed against the $t (workload $id, round $r)"
            ops_l[$t]+=" $(json_num "$json" ops_per_sec)"
            p50_l[$t]+=" $(json_num "$json" p50)"
            p99_l[$t]+=" $(json_num "$json" p99)"
            err_n[$t]=$((${err_n[$t]:-0} + $(json_num "$json" errors) + $(json_num "$json" unfinished)))
            log "  round $r $t: $(json_num "$json" ops_per_sec) ops/s, p99 $(json_num "$json" p99) us, errors $(json_num "$json" errors)"
        done
    done
    for t in cluster single; do
        # shellcheck disable=SC2086
        OPS[$id-$t]=$(median ${ops_l[$t]})
        # shellcheck disable=SC2086
        P50[$id-$t]=$(median ${p50_l[$t]})
        # shellcheck disable=SC2086
        P99[$id-$t]=$(median ${p99_l[$t]})
        ERR[$id-$t]=${err_n[$t]}
        local tname="single node"
        [ "$t" = cluster ] && tname="3-node cluster, via n1"
        ROWS+=("| $label | $tname | $(printf '%.0f' "${OPS[$id-$t]}") | ${P50[$id-$t]} | ${P99[$id-$t]} | ${ERR[$id-$t]} |")
    done
}

run_pair 1 "get-heavy 90% get, 100 B, 50 conns (full load)" 50
run_pair 2 "get-heavy 90% get, 100 B, 2 conns (light load)" 2
run_pair 3 "get-heavy 90% get, 100 B, 10 conns, 5000 ops/s offered" 10 5000
run_pair 4 "get-heavy 90% get, 100 B, 20 conns, 20000 ops/s offered" 20 20000

CL_STATS=$(rc_admin "${CL_PORTS[1]}" "stats cluster" | awk '/^STAT / {
    if ($2 ~ /^(cluster_reads|cluster_writes|forwarded_requests|forward_failures|read_quorum_failures|write_quorum_failures|read_repairs|hinted_writes|peer_timeouts|peer_errors)$/)
        { printf "%s%s %s", sep, $2, $3; sep = ", " } }')

OPS_RATIO=$(ratio "${OPS[1-cluster]}" "${OPS[1-single]}")
P99_RATIO=$(ratio "${P99[1-cluster]}" "${P99[1-single]}")
P99_LIGHT=$(ratio "${P99[2-cluster]}" "${P99[2-single]}")
P99_RATE5=$(ratio "${P99[3-cluster]}" "${P99[3-single]}")
P99_RATE20=$(ratio "${P99[4-cluster]}" "${P99[4-single]}")
verdict() { # value op bound
    awk -v v="$1" -v b="$3" -v op="$2" 'BEGIN { if (v == "-") { print "-"; exit }
        ok = (op == ">=") ? (v + 0 >= b) : (v + 0 <= b); print (ok ? "met" : "MISSED") }'
}

RC_VERSION=$("$RINGCACHED" -V 2>/dev/null | head -n 1)
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)

echo "### 3-node cluster vs one node, $(date -u +%Y-%m-%d)"
echo
echo "Loopback, $(nproc) cores ($CPU), shared by all four daemons and loadgen"
echo "($LOADGEN_THREADS loadgen thread(s); every daemon runs ${SRV_FLAGS[*]})."
echo "${RC_VERSION:-ringcached}. Cluster: N=3 R=2 W=2, loadgen pointed at n1 (which coordinates"
echo "every request: with N=3 on 3 nodes it is a replica of every key). $ROUNDS interleaved"
echo "round(s) of ${DURATION}s after ${WARMUP}s warmup; medians per target. Latency in microseconds;"
echo "errors: error replies plus requests unanswered at the end, all rounds."
echo
echo "| workload | target | ops/s | p50 us | p99 us | errors |"
echo "|---|---|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "| ratio (cluster / single) | value | target | |"
echo "|---|---:|---:|---|"
echo "| throughput, full load | $OPS_RATIO | >= 0.33 | $(verdict "$OPS_RATIO" '>=' 0.33) |"
echo "| p99, full load (each side at its own rate) | $P99_RATIO | <= 3 | $(verdict "$P99_RATIO" '<=' 3) |"
echo "| p99, same offered load, 5000 ops/s | $P99_RATE5 | <= 3 | $(verdict "$P99_RATE5" '<=' 3) |"
echo "| p99, same offered load, 20000 ops/s | $P99_RATE20 | <= 3 | $(verdict "$P99_RATE20" '<=' 3) |"
echo "| p99, light closed-loop load (2 conns; not an equal load) | $P99_LIGHT | - | |"
echo
echo "The target is p99 at the same offered load: the two --rate rows. There loadgen"
echo "sends each connection's requests on a schedule, the same for both targets, and"
echo "counts a request's latency from its due time when the server kept it waiting."
echo "The closed-loop rows are not equal loads (each side runs at its own rate)."
[ -n "$CL_STATS" ] && echo && echo "stats cluster on n1 after the runs: $CL_STATS."
echo
echo "Command lines:"
echo
echo "    $(bench_command_line "$0" "${ARGS_ORIG[@]}")"
CL_SHOWN="${CL_CMD//$TMP/TMP}"
echo "    cluster node (the last one): ringcached ${CL_SHOWN#"$RINGCACHED" }"
echo "    single node:  ringcached -l 127.0.0.1 -p PORT --data-dir DIR --name single ${SRV_FLAGS[*]}${ROOT_ARGS[*]:+ ${ROOT_ARGS[*]}}"
echo "    preload: loadgen --port PORT --duration 0 --preload --conns 4 --pipeline 32 --keys $KEYS --value-size 100"
echo "    (1) loadgen --port PORT --json --threads $LOADGEN_THREADS --conns 50 --get-ratio 0.9 --value-size 100 --keys $KEYS --duration $DURATION --warmup $WARMUP --seed ROUND"
echo "    (2) the same with --conns 2; (3) with --conns 10 --rate 5000; (4) with --conns 20 --rate 20000"
[ "$QUICK" -eq 1 ] && echo && echo "(--quick: short runs, indicative only)"
exit 0
