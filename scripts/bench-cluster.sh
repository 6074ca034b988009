#!/usr/bin/env bash
# POST -> delivery through nginx in front of 2 api + 2 notifier, beside 1 api + 1 notifier
# reached directly, in one run of one build; then logout and deletion across the two apis.
#
#   FANOUT=path/to/fanout scripts/bench-cluster.sh [OUT_DIR]
#
# FANOUT is the load client of the project's bench kit (`fanout`, built on its own). Both
# clusters come from scripts/cluster.sh (the release build by default; CLUSTER_BIN_DIR as there)
# with POST_DAILY_LIMIT=0 and REGISTER_PER_HOUR=1000000, on ports 8180 and 9180 (BENCH_PORT_2X2, BENCH_PORT_1X1; each
# cluster's instances take the ports 100 and 200 above). Each gets
# FOLLOWERS (200) followers of one author; the runs alternate between the two set-ups: 1 post/s
# (SLOW_POSTS, 60) then 50 posts/s (FAST_POSTS, 500), each after 5 warm-up posts. Every run's
# JSON summary lands in OUT_DIR (target/bench-cluster), a table of p50/p90/p99 on stdout. Both
# clusters are stopped at the end, also on failure.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/target/bench-cluster}")
FANOUT=${FANOUT:?set FANOUT to the fanout load client}
FOLLOWERS=${FOLLOWERS:-200}
SLOW_POSTS=${SLOW_POSTS:-60}
FAST_POSTS=${FAST_POSTS:-500}
PORT_2X2=${BENCH_PORT_2X2:-8180}
PORT_1X1=${BENCH_PORT_1X1:-9180}
# Every follower registers from one address: the per-address registration limit is lifted.
export POST_DAILY_LIMIT=0 REGISTER_PER_HOUR=1000000 RUST_LOG=${RUST_LOG:-warn}
mkdir -p "$OUT"

cluster() { # setup (2x2 | 1x1), then cluster.sh's arguments
    local setup=$1 port=$PORT_2X2
    shift
    [[ $setup == 1x1 ]] && port=$PORT_1X1
    CLUSTER_STATE_DIR=$OUT/$setup CLUSTER_PORT=$port "$ROOT/scripts/cluster.sh" "$@"
}

stop_all() {
    cluster 2x2 stop >/dev/null 2>&1 || true
    cluster 1x1 stop >/dev/null 2>&1 || true
}
trap stop_all EXIT
trap 'exit 1' INT TERM

cluster 2x2 start 2 2 >"$OUT/2x2-start.log"
cluster 1x1 start 1 1 >"$OUT/1x1-start.log"

# Where the load goes: nginx for 2x2, the instances themselves for 1x1.
declare -A API WS PIDS
API[2x2]=http://127.0.0.1:$PORT_2X2
WS[2x2]=ws://127.0.0.1:$PORT_2X2/ws
while read -r kind _ pid port; do
    case $kind in
        api) API[1x1]=http://127.0.0.1:$port ;;
        notifier) WS[1x1]=ws://127.0.0.1:$port/ws ;;
    esac
    [[ $kind == nginx ]] || PIDS[1x1]+=" --pid $pid"
done <"$OUT/1x1/processes"
while read -r kind _ pid _; do
    PIDS[2x2]+=" --pid $pid"
done <"$OUT/2x2/processes"

for setup in 2x2 1x1; do
    "$FANOUT" --api "${API[$setup]}" --ws "${WS[$setup]}" --state "$OUT/$setup-state.json" \
        setup --followers "$FOLLOWERS" --fresh >"$OUT/$setup-setup.log" 2>&1
done

run() { # setup, name, posts, interval
    local setup=$1 name=$2 posts=$3 interval=$4
    # shellcheck disable=SC2086 # PIDS holds repeated --pid flags
    "$FANOUT" --api "${API[$setup]}" --ws "${WS[$setup]}" --state "$OUT/$setup-state.json" \
        latency --posts "$posts" --interval-ms "$interval" --warmup 5 ${PIDS[$setup]} \
        >"$OUT/$setup-$name.log" 2>"$OUT/$setup-$name.err"
    tail -n 1 "$OUT/$setup-$name.log" >"$OUT/$setup-$name.json"
}

for rate in slow fast; do
    for setup in 1x1 2x2; do
        if [[ $rate == slow ]]; then run "$setup" slow "$SLOW_POSTS" 1000; else run "$setup" fast "$FAST_POSTS" 20; fi
    done
done

printf '%-6s %-10s %9s %9s %9s %9s %s\n' setup rate p50_ms p90_ms p99_ms max_ms "received/expected"
for rate in slow fast; do
    for setup in 1x1 2x2; do
        jq -r --arg s "$setup" --arg r "$([[ $rate == slow ]] && echo 1/s || echo 50/s)" \
            '[$s, $r, .delivery_ms.p50, .delivery_ms.p90, .delivery_ms.p99, .delivery_ms.max,
              "\(.received)/\(.expected)"] | @tsv' \
            "$OUT/$setup-$rate.json" | awk -F'\t' '{printf "%-6s %-10s %9s %9s %9s %9s %s\n", $1, $2, $3, $4, $5, $6, $7}'
    done
done

python3 "$ROOT/scripts/cluster-revocation.py" --state "$OUT/2x2" | tee "$OUT/2x2-revocation.log"
