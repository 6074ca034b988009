#!/usr/bin/env bash
# RabbitMQ node-loss drill: kill -9 the node the api is connected to while posting.
#
#   scripts/rabbit-drill.sh [FOLLOWERS] [RATE]     (default 30 followers, 20 posts/s)
#
# Starts the private three-node RabbitMQ cluster (scripts/rabbit-cluster.sh), then one `api`
# and one `notifier` of the release build (built when missing) with AMQP_URL listing the
# three nodes, on a scratch database of the local PostgreSQL, behind a private nginx
# (scripts/cluster.sh start 1 1, state in target/rabbit-drill). The client
# (scripts/rabbit_drill.py, `websockets` installed from PyPI in target/drill-venv when missing)
# connects the followers over WebSocket, posts at RATE/s, kills -9 the api's node after
# DRILL_BEFORE seconds (5), posts DRILL_AFTER seconds more (15), and checks: every POST 201,
# every follower gets every post exactly once (reconnecting with ?since= where its socket
# dropped), deliveries resume within 3 s of the kill. It prints a summary and exits 1 if a
# check fails. Everything it started is stopped at the end, whatever the outcome (the
# database dropped, the RabbitMQ cluster stopped).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FOLLOWERS=${1:-30}
RATE=${2:-20}
STATE=$ROOT/target/rabbit-drill
VENV=$ROOT/target/drill-venv
RABBIT_STATE=${RABBIT_CLUSTER_DIR:-$ROOT/target/rabbit-cluster}
BASE_PORT=${RABBIT_CLUSTER_PORT:-5681}
export CLUSTER_STATE_DIR=$STATE
export CLUSTER_PORT=${DRILL_PORT:-8095}

say() { echo "rabbit-drill: $*"; }

if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import websockets' 2>/dev/null; then
    say "installing the client's one dependency (websockets) in $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'websockets>=13'
fi

cleanup() {
    say "stopping what the drill started"
    "$ROOT/scripts/cluster.sh" stop || true
    "$ROOT/scripts/rabbit-cluster.sh" stop || true
}
trap cleanup EXIT

"$ROOT/scripts/rabbit-cluster.sh" start
AMQP_URL=$(sed -n 's/^AMQP_URL=//p' "$RABBIT_STATE/cluster.env")
export AMQP_URL
# Enough registrations and posts for the drill; everything else at its defaults.
export REGISTER_PER_HOUR=100000 POST_DAILY_LIMIT=0
"$ROOT/scripts/cluster.sh" start 1 1

api_pid=$(awk '$1 == "api" { print $3 }' "$STATE/processes")
notifier_pid=$(awk '$1 == "notifier" { print $3 }' "$STATE/processes")
say "api pid $api_pid; AMQP_URL lists 3 nodes, so the queues are quorum queues (AMQP_QUEUE_TYPE unset)"

pid_files=() ports=()
for n in 1 2 3; do
    pid_files+=("$RABBIT_STATE/r$n/rabbit.pid")
    ports+=($((BASE_PORT + n - 1)))
done
status=0
"$VENV/bin/python" "$ROOT/scripts/rabbit_drill.py" \
    --api "http://127.0.0.1:$CLUSTER_PORT" --ws "ws://127.0.0.1:$CLUSTER_PORT/ws" \
    --api-pid "$api_pid" --notifier-pid "$notifier_pid" --followers "$FOLLOWERS" --rate "$RATE" \
    --before "${DRILL_BEFORE:-5}" --after "${DRILL_AFTER:-15}" \
    --ports "$(IFS=,; echo "${ports[*]}")" --pid-files "$(IFS=,; echo "${pid_files[*]}")" || status=$?
"$ROOT/scripts/rabbit-cluster.sh" status || true
say "queues on a surviving node:"
for n in 1 2 3; do
    if kill -0 "$(cat "${pid_files[n - 1]}")" 2>/dev/null; then
        HOME=$RABBIT_STATE/home ERL_EPMD_PORT=${RABBIT_CLUSTER_EPMD_PORT:-4371} \
            /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "social-r$n@localhost" list_queues name type messages consumers |
            sed 's/^/  /' || true
        break
    fi
done
exit "$status"
