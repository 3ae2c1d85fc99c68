#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# bench.sh - ringcached against memcached 1.6 with contrib/loadgen, on loopback.
#
# usage: contrib/bench.sh [BUILD_DIR] [--quick] [--only memcached|ringcached]
#                         [--rounds N] [--duration S] [--warmup S] [--rss-items N]
#                         [--no-rss] [--workloads LIST]
#
# Defaults: 3 rounds of 10 s measured after 2 s warmup; --quick: 1 round of
# 2 s after 0.5 s (indicative only). --only runs one server (e.g. before
# ringcached runs). --workloads runs only the listed workloads, comma-separated
# from 1,2,3,4,5,6,7,rss,ext (default: all of them). Exit status 0, or 1 with
# a message if anything failed.
#
# Binaries: RINGCACHED (BUILD_DIR/ringcached), MEMCACHED (/usr/bin/memcached),
# LOADGEN (BUILD_DIR/contrib/loadgen). BUILD_DIR defaults to the current
# directory, which is what `make bench` runs from. LOADGEN_THREADS (1) sets the
# generator's threads: the server and the generator share this machine's
# cores, so one generator thread leaves the server the rest.
#
# Method: per workload both servers are started fresh (ringcached on a fresh
# data dir) and preloaded once; then rounds run A B A B ... so drift on a
# shared machine hits both alike; each metric reported is the median over
# rounds for that target (ops/s, p50 and p99 medians are taken separately).
# Workloads: (1) 90% get, 100 B, 50 conns, preloaded; (2) the same with
# --pipeline 16; (3) sets of 1 KB, 50 conns; (4) sets with ringcached
# --sync always, 1 conn and 50 conns (their ratio shows group commit);
# (5) get-heavy over the binary and meta protocols, with and without
# pipelining; (6) one reader's latency alone and beside 50 writers under
# --sync always; (7) gets only, binary, --pipeline 16; and (rss) the server
# RSS after loading N 100-byte items (and ringcached's data dir).
#
# (ext) The versioning extension, ringcached only (memcached does not speak
# it): per workload two fresh ringcached servers, one driven with plain text
# get/set and one with vget/vset (loadgen --protocol vtext: read-resolve-
# write, each vset carries the context last read for its key) or with vget
# and plain set (--protocol vget), rounds interleaved plain, extension, ...;
# reported in a table of its own, as absolute figures and extension / plain.
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
MEMCACHED=${MEMCACHED:-/usr/bin/memcached}
LOADGEN=${LOADGEN:-$BUILD_DIR/contrib/loadgen}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}

ROUNDS=3
DURATION=10
WARMUP=2
RSS_ITEMS=1000000
DO_RSS=1
ONLY=
KEYS=100000
QUICK=0
WORKLOADS=all

die() {
    echo "bench.sh: $*" >&2
    exit 1
}

log() {
    echo "bench.sh: $*" >&2
}

while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1; ROUNDS=1; DURATION=2; WARMUP=0.5 ;;
    --only) [ $# -ge 2 ] || die "--only needs memcached or ringcached"; ONLY=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --rss-items) RSS_ITEMS=$2; shift ;;
    --no-rss) DO_RSS=0 ;;
    --workloads) [ $# -ge 2 ] || die "--workloads needs a list"; WORKLOADS=$2; shift ;;
    -h | --help) awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
    esac
    shift
done
case $ONLY in
'' | memcached | ringcached) ;;
*) die "--only: expected memcached or ringcached, got '$ONLY'" ;;
esac

want() {
    [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]
}

if [ "$WORKLOADS" != all ]; then
    for w in ${WORKLOADS//,/ }; do
        case $w in
        1 | 2 | 3 | 4 | 5 | 6 | 7 | rss | ext) ;;
        *) die "--workloads: unknown workload '$w' (expected a list of 1,2,3,4,5,6,7,rss,ext)" ;;
        esac
    done
fi

# True if workload $1 was asked for (--workloads).
selected() {
    [ "$WORKLOADS" = all ] || [[ ",$WORKLOADS," == *",$1,"* ]]
}

[ -x "$LOADGEN" ] || die "loadgen not found at $LOADGEN (build it: make contrib/loadgen, or set LOADGEN=)"
if want memcached; then
    [ -x "$MEMCACHED" ] || die "memcached not found at $MEMCACHED (set MEMCACHED=, or --only ringcached)"
fi
if want ringcached; then
    [ -x "$RINGCACHED" ] || die "ringcached not found at $RINGCACHED (set RINGCACHED=, or --only memcached)"
fi

# ------------------------------------------------------------ process hygiene

BENCH_TMP_NAME=rc-bench
# shellcheck source=contrib/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"

# A free-looking port below the kernel's ephemeral range, so client sockets
# (ours or other programs') cannot already hold it; start_server retries if
# the bind fails anyway.
pick_port() {
    local p i lo=20000 hi
    hi=$(awk '{ print $1 - 1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    [ -n "$hi" ] && [ "$hi" -gt $((lo + 1000)) ] || hi=32767
    for i in $(seq 1 50); do
        p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
        if ! port_taken "$p"; then
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

# Waits up to 10 s for PID to accept on PORT.
wait_port() {
    local pid=$1 port=$2 i
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        port_in_use "$port" && return 0
        sleep 0.1
    done
    return 1
}

# start_server NAME TARGET SYNC: starts memcached or ringcached (sync mode
# batch|always) on a fresh port, up to 3 tries; sets SRV_PID, SRV_PORT,
# SRV_DIR and SRV_CMD.
start_server() {
    local name=$1 target=$2 sync=$3 attempt
    for attempt in 1 2 3; do
        SRV_PORT=$(pick_port)
        SRV_DIR=
        if [ "$target" = memcached ]; then
            SRV_CMD=("$MEMCACHED" -l 127.0.0.1 -p "$SRV_PORT" -U 0 -t 2 -m 1024 "${ROOT_ARGS[@]}")
        else
            SRV_DIR=$TMP/data-$name
            rm -rf "$SRV_DIR"
            mkdir -p "$SRV_DIR"
            SRV_CMD=("$RINGCACHED" -l 127.0.0.1 -p "$SRV_PORT" --data-dir "$SRV_DIR"
                --sync "$sync" -t 2 -m 256 "${ROOT_ARGS[@]}")
        fi
        "${SRV_CMD[@]}" >"$TMP/$name.log" 2>&1 &
        SRV_PID=$!
        STARTED_PIDS+=("$SRV_PID")
        wait_port "$SRV_PID" "$SRV_PORT" && return 0
        stop_pid "$SRV_PID"
        grep -qi 'in use' "$TMP/$name.log" || break
        log "port $SRV_PORT was taken (attempt $attempt of 3)"
    done
    tail -n 20 "$TMP/$name.log" >&2
    die "$target exited or did not accept on 127.0.0.1:$SRV_PORT within 10 s: ${SRV_CMD[*]}"
}

# ------------------------------------------------------------ measurements

json_num() {
    sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p" <<<"$1"
}

# An integer field of a loadgen JSON line; 0 if the line has none.
json_int() {
    local v
    v=$(json_num "$1" "$2")
    echo "${v:-0}"
}

# Median of the numeric arguments ("-" if none are numbers).
median() {
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Hits in percent of gets ("-" without gets), from a loadgen JSON line.
hit_percent() {
    awk -v g="$(json_num "$1" gets)" -v h="$(json_num "$1" hits)" \
        'BEGIN { if (g > 0) printf "%.1f", 100 * h / g; else print "-" }'
}

# Runs loadgen with a hard bound; prints its JSON line.
loadgen_run() {
    local port=$1 bound
    shift
    bound=$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 330 }')
    timeout -k 5 "$bound" "$LOADGEN" --host 127.0.0.1 --port "$port" --json "$@"
}

preload() {
    local port=$1
    shift
    timeout -k 5 330 "$LOADGEN" --host 127.0.0.1 --port "$port" --json --duration 0 \
        --preload --conns 4 --pipeline 32 "$@" >/dev/null ||
        die "preload against port $port failed"
}

TABLE_ROWS=()
LOADGEN_CMDS=()
declare -A RESULT_OPS

# run_workload ID LABEL RC_SYNC PRELOAD(0|1) LOADGEN_ARGS...
run_workload() {
    local id=$1 label=$2 sync=$3 pre=$4
    shift 4
    local targets=() t r json ops p50 p99 hit ratio mc_ops='' threads=$LOADGEN_THREADS a prev=''
    declare -A port pid ops_l p50_l p99_l hit_l err_n
    want memcached && targets+=(memcached)
    want ringcached && targets+=(ringcached)
    for a in "$@"; do
        # loadgen needs --threads <= --conns (workload 4a has one conn)
        if [ "$prev" = --conns ] && [ "$a" -lt "$threads" ]; then
            threads=$a
        fi
        prev=$a
    done
    log "workload $id: $label"
    for t in "${targets[@]}"; do
        start_server "w$id-$t" "$t" "$sync"
        port[$t]=$SRV_PORT
        pid[$t]=$SRV_PID
        [ "$pre" -eq 1 ] && preload "$SRV_PORT" --keys "$KEYS" --value-size 100
    done
    LOADGEN_CMDS+=("($id) loadgen --port PORT --json --threads $threads --duration $DURATION --warmup $WARMUP --keys $KEYS $*")
    for r in $(seq 1 "$ROUNDS"); do
        for t in "${targets[@]}"; do
            json=$(loadgen_run "${port[$t]}" --threads "$threads" \
                --duration "$DURATION" --warmup "$WARMUP" --keys "$KEYS" --seed "$r" "$@") ||
                die "loadgen failed against $t (workload $id, round $r)"
            ops_l[$t]+=" $(json_num "$json" ops_per_sec)"
            p50_l[$t]+=" $(json_num "$json" p50)"
            p99_l[$t]+=" $(json_num "$json" p99)"
            hit_l[$t]+=" $(hit_percent "$json")"
            err_n[$t]=$((${err_n[$t]:-0} + $(json_num "$json" errors) + $(json_num "$json" unfinished)))
            log "  round $r $t: $(json_num "$json" ops_per_sec) ops/s, get hits % $(hit_percent "$json"), errors $(json_num "$json" errors)"
        done
    done
    for t in "${targets[@]}"; do
        stop_pid "${pid[$t]}"
        # shellcheck disable=SC2086
        ops=$(median ${ops_l[$t]})
        # shellcheck disable=SC2086
        p50=$(median ${p50_l[$t]})
        # shellcheck disable=SC2086
        p99=$(median ${p99_l[$t]})
        # shellcheck disable=SC2086
        hit=$(median ${hit_l[$t]})
        [ "$t" = memcached ] && mc_ops=$ops
        ratio=-
        [ -n "$mc_ops" ] && ratio=$(awk -v a="$ops" -v b="$mc_ops" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        RESULT_OPS[$id-$t]=$ops
        local tname=$t
        [ "$t" = ringcached ] && tname="ringcached (sync=$sync)"
        TABLE_ROWS+=("| $label | $tname | $(printf '%.0f' "$ops") | $p50 | $p99 | $hit | ${err_n[$t]} | $ratio |")
    done
}

# RSS (kB) of a fresh server before and after loading RSS_ITEMS 100-byte items.
RSS_ROWS=()
measure_rss() {
    local t=$1 before after dir=-
    start_server "rss-$t" "$t" batch
    before=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SRV_PID/status")
    log "rss: loading $RSS_ITEMS items into $t"
    preload "$SRV_PORT" --keys "$RSS_ITEMS" --value-size 100 --key-prefix rss:
    sleep 1
    after=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SRV_PID/status")
    if [ -n "$SRV_DIR" ]; then
        dir="$(du -sk "$SRV_DIR" | awk '{ printf "%.1f", $1 / 1024 }') MiB"
    fi
    stop_pid "$SRV_PID"
    RSS_ROWS+=("| $t | $RSS_ITEMS | $(awk -v k="$before" 'BEGIN { printf "%.1f", k / 1024 }') | $(awk -v k="$after" 'BEGIN { printf "%.1f", k / 1024 }') | $dir |")
}

# A commit that waits for the disk must not stall other connections: one
# reading connection's latency alone, then beside 50 writing connections,
# on ringcached --sync always (median of rounds).
READER_ROW=
measure_reader_under_writes() {
    local r json idle99='' busy99='' idle50='' busy50='' wpid
    start_server "reader" ringcached always
    preload "$SRV_PORT" --keys "$KEYS" --value-size 100
    log "reader latency under writes (ringcached --sync always)"
    for r in $(seq 1 "$ROUNDS"); do
        json=$(loadgen_run "$SRV_PORT" --conns 1 --get-ratio 1 --duration "$DURATION" \
            --warmup "$WARMUP" --keys "$KEYS" --seed "$r") || die "reader (idle) failed"
        idle50+=" $(json_num "$json" p50)"
        idle99+=" $(json_num "$json" p99)"
        loadgen_run "$SRV_PORT" --conns 50 --get-ratio 0 --value-size 100 \
            --duration "$(awk -v d="$DURATION" 'BEGIN { print d + 2 }')" --warmup "$WARMUP" \
            --keys "$KEYS" --seed "$((r + 100))" >/dev/null &
        wpid=$!
        sleep 1
        json=$(loadgen_run "$SRV_PORT" --conns 1 --get-ratio 1 --duration "$DURATION" \
            --warmup "$WARMUP" --keys "$KEYS" --seed "$r") || die "reader (busy) failed"
        wait "$wpid" || die "writers failed"
        busy50+=" $(json_num "$json" p50)"
        busy99+=" $(json_num "$json" p99)"
        log "  round $r: reader p99 idle $(json_num "$json" p99) us"
    done
    stop_pid "$SRV_PID"
    # shellcheck disable=SC2086
    READER_ROW="| $(median $idle50) | $(median $idle99) | $(median $busy50) | $(median $busy99) |"
    LOADGEN_CMDS+=("(6) reader: loadgen --conns 1 --get-ratio 1; writers: loadgen --conns 50 --get-ratio 0 --value-size 100 (ringcached --sync always)")
}

# The versioning extension against plain text on ringcached alone: two fresh
# servers (the same sync mode, the same preload), rounds interleaved.
# run_ext_workload ID LABEL RC_SYNC PRELOAD(0|1) EXT_PROTOCOL COMMON_LOADGEN_ARGS...
EXT_ROWS=()
run_ext_workload() {
    local id=$1 label=$2 sync=$3 pre=$4 eproto=$5
    shift 5
    local t r json ops p50 p99 hit ratio plain_ops='' threads=$LOADGEN_THREADS a prev='' sib state multi
    local targets=(plain ext)
    declare -A port pid proto ops_l p50_l p99_l hit_l sib_l sibmax err_n multi_n
    proto[plain]=text
    proto[ext]=$eproto
    for a in "$@"; do
        if [ "$prev" = --conns ] && [ "$a" -lt "$threads" ]; then
            threads=$a
        fi
        prev=$a
    done
    log "extension workload $id: $label (text vs $eproto)"
    for t in "${targets[@]}"; do
        start_server "x$id-$t" ringcached "$sync"
        port[$t]=$SRV_PORT
        pid[$t]=$SRV_PID
        [ "$pre" -eq 1 ] && preload "$SRV_PORT" --keys "$KEYS" --value-size 100
    done
    state=empty
    [ "$pre" -eq 1 ] && state=preloaded
    LOADGEN_CMDS+=("($id; ringcached --sync $sync, $state) loadgen --port PORT --json --threads $threads --duration $DURATION --warmup $WARMUP --keys $KEYS $* --protocol text|$eproto")
    for r in $(seq 1 "$ROUNDS"); do
        for t in "${targets[@]}"; do
            json=$(loadgen_run "${port[$t]}" --threads "$threads" --duration "$DURATION" \
                --warmup "$WARMUP" --keys "$KEYS" --seed "$r" "$@" --protocol "${proto[$t]}") ||
                die "loadgen --protocol ${proto[$t]} failed (extension workload $id, round $r)"
            ops_l[$t]+=" $(json_num "$json" ops_per_sec)"
            p50_l[$t]+=" $(json_num "$json" p50)"
            p99_l[$t]+=" $(json_num "$json" p99)"
            hit_l[$t]+=" $(hit_percent "$json")"
            if [ "$(json_int "$json" vget_hits)" -gt 0 ]; then
                sib_l[$t]+=" $(json_num "$json" siblings_mean)"
                sib=$(json_int "$json" siblings_max)
                [ "$sib" -gt "${sibmax[$t]:-0}" ] && sibmax[$t]=$sib
            fi
            multi_n[$t]=$((${multi_n[$t]:-0} + $(json_int "$json" vset_multi)))
            err_n[$t]=$((${err_n[$t]:-0} + $(json_num "$json" errors) + $(json_num "$json" unfinished) + $(json_num "$json" protocol_errors)))
            log "  round $r ${proto[$t]}: $(json_num "$json" ops_per_sec) ops/s, get hits % $(hit_percent "$json"), errors $(json_num "$json" errors)"
        done
    done
    for t in "${targets[@]}"; do
        stop_pid "${pid[$t]}"
        # shellcheck disable=SC2086
        ops=$(median ${ops_l[$t]})
        # shellcheck disable=SC2086
        p50=$(median ${p50_l[$t]})
        # shellcheck disable=SC2086
        p99=$(median ${p99_l[$t]})
        # shellcheck disable=SC2086
        hit=$(median ${hit_l[$t]})
        sib=-
        if [ -n "${sib_l[$t]:-}" ]; then
            # shellcheck disable=SC2086
            sib="$(median ${sib_l[$t]}) (${sibmax[$t]:-0})"
        fi
        multi=-
        [ "${proto[$t]}" = vtext ] && multi=${multi_n[$t]:-0}
        [ "$t" = plain ] && plain_ops=$ops
        ratio=$(awk -v a="$ops" -v b="$plain_ops" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        RESULT_OPS[$id-$t]=$ops
        EXT_ROWS+=("| $label | ${proto[$t]} | $(printf '%.0f' "$ops") | $p50 | $p99 | $hit | $sib | $multi | ${err_n[$t]} | $ratio |")
    done
}

# ------------------------------------------------------------ main

selected 1 && run_workload 1 "get-heavy 90% get, 100 B, 50 conns" batch 1 \
    --conns 50 --get-ratio 0.9 --value-size 100
selected 2 && run_workload 2 "get-heavy, --pipeline 16" batch 1 \
    --conns 50 --get-ratio 0.9 --value-size 100 --pipeline 16
selected 3 && run_workload 3 "sets, 1 KB, 50 conns" batch 0 \
    --conns 50 --get-ratio 0 --value-size 1024
if selected 4; then
    run_workload 4a "sets, 100 B, 1 conn" always 0 \
        --conns 1 --get-ratio 0 --value-size 100
    run_workload 4b "sets, 100 B, 50 conns" always 0 \
        --conns 50 --get-ratio 0 --value-size 100
fi
if selected 5; then
    for proto in binary meta; do
        run_workload "5$proto" "get-heavy, $proto protocol" batch 1 \
            --conns 50 --get-ratio 0.9 --value-size 100 --protocol "$proto"
        run_workload "5$proto-p16" "get-heavy, $proto, --pipeline 16" batch 1 \
            --conns 50 --get-ratio 0.9 --value-size 100 --protocol "$proto" --pipeline 16
    done
fi
# The read path alone: the 90/10 rows above include durable writes.
selected 7 && run_workload 7 "gets only, binary, --pipeline 16" batch 1 \
    --conns 50 --get-ratio 1 --value-size 100 --protocol binary --pipeline 16
want ringcached && selected 6 && measure_reader_under_writes
if [ "$DO_RSS" -eq 1 ] && selected rss; then
    want memcached && measure_rss memcached
    want ringcached && measure_rss ringcached
fi
if want ringcached && selected ext; then
    run_ext_workload ext1 "90% reads, 100 B, 50 conns" batch 1 vtext \
        --conns 50 --get-ratio 0.9 --value-size 100
    run_ext_workload ext2 "90% reads, --pipeline 16" batch 1 vtext \
        --conns 50 --get-ratio 0.9 --value-size 100 --pipeline 16
    run_ext_workload ext3 "90% reads (vget), plain set writes" batch 1 vget \
        --conns 50 --get-ratio 0.9 --value-size 100
    run_ext_workload ext4 "writes only, 100 B, 50 conns" batch 0 vtext \
        --conns 50 --get-ratio 0 --value-size 100
fi

MC_VERSION=-
want memcached && MC_VERSION=$("$MEMCACHED" -V 2>/dev/null | head -n 1)
RC_VERSION=-
want ringcached && RC_VERSION=$("$RINGCACHED" -V 2>/dev/null | head -n 1)
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)

echo "### ringcached vs memcached, $(date -u +%Y-%m-%d)"
echo
echo "Loopback, $(nproc) cores ($CPU), shared by server and loadgen" \
    "($LOADGEN_THREADS loadgen thread(s); servers run 2 worker threads)."
echo "$MC_VERSION; ringcached ${RC_VERSION#ringcached }. $ROUNDS interleaved round(s) of" \
    "${DURATION}s after ${WARMUP}s warmup; medians per target. Latency in microseconds;"
echo "errors: error replies, requests lost with a connection or unanswered at the end, all rounds."
echo
if [ "${#TABLE_ROWS[@]}" -gt 0 ]; then
    echo "| workload | server | ops/s | p50 us | p99 us | get hit % | errors | vs memcached |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${TABLE_ROWS[@]}"
fi
if want ringcached && [ -n "${RESULT_OPS[4a-ringcached]:-}" ]; then
    echo
    echo "Group commit (ringcached --sync always): 50 conns / 1 conn =" \
        "$(awk -v a="${RESULT_OPS[4b-ringcached]}" -v b="${RESULT_OPS[4a-ringcached]}" \
            'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')x"
fi
if [ -n "$READER_ROW" ]; then
    echo
    echo "One reading connection, alone and beside 50 writing connections (ringcached --sync always):"
    echo
    echo "| reader p50 idle us | reader p99 idle us | p50 with writers us | p99 with writers us |"
    echo "|---:|---:|---:|---:|"
    echo "$READER_ROW"
fi
if [ "${#RSS_ROWS[@]}" -gt 0 ]; then
    echo
    echo "| server | items (100 B) | VmRSS idle MiB | VmRSS loaded MiB | data dir |"
    echo "|---|---:|---:|---:|---:|"
    printf '%s\n' "${RSS_ROWS[@]}"
fi
if [ "${#EXT_ROWS[@]}" -gt 0 ]; then
    [ "${#TABLE_ROWS[@]}" -gt 0 ] && echo
    echo "Versioning extension, ringcached only (sync=batch): plain text get/set against vget/vset"
    echo "(vtext: each vset carries the context last read for its key) or vget with plain set (vget),"
    echo "on two fresh servers, rounds interleaved. Siblings: per vget hit, median of rounds (largest"
    echo "seen); vsets > 1: vsets answered with more than one sibling; errors also count protocol errors."
    echo
    echo "| workload | client | ops/s | p50 us | p99 us | get hit % | siblings | vsets > 1 | errors | vs plain |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${EXT_ROWS[@]}"
fi
echo
echo "Command lines:"
echo
echo "    $(bench_command_line "$0" "${ARGS_ORIG[@]}")"
echo "    memcached -l 127.0.0.1 -p PORT -U 0 -t 2 -m 1024${ROOT_ARGS[*]:+ ${ROOT_ARGS[*]}}"
echo "    ringcached -l 127.0.0.1 -p PORT --data-dir DIR --sync batch|always -t 2 -m 256${ROOT_ARGS[*]:+ ${ROOT_ARGS[*]}}"
echo "    preload: loadgen --port PORT --duration 0 --preload --conns 4 --pipeline 32 --keys $KEYS --value-size 100"
for c in "${LOADGEN_CMDS[@]}"; do
    echo "    $c --seed ROUND"
done
if [ "${#RSS_ROWS[@]}" -gt 0 ]; then
    echo "    (5) loadgen --port PORT --duration 0 --preload --conns 4 --pipeline 32 --keys $RSS_ITEMS --value-size 100 --key-prefix rss:"
fi
[ "$QUICK" -eq 1 ] && echo && echo "(--quick: short runs, indicative only)"
exit 0
