#!/usr/bin/env bash
# A private three-node RabbitMQ cluster on loopback, beside (never touching) the machine's node:
#
#   scripts/rabbit-cluster.sh start    fresh nodes, clustered; prints the AMQP_URL to use
#   scripts/rabbit-cluster.sh status   each node's pid and whether it runs; the cluster status
#   scripts/rabbit-cluster.sh stop     ends every node and the private epmd, by pid
#   scripts/rabbit-cluster.sh pid N    the pid of node N (1-3), for drills that kill -9 it
#   scripts/rabbit-cluster.sh restart N   starts node N again (after a drill killed it); it
#                                      rejoins the cluster with its data
#
# Nodes `social-r1@localhost` .. `social-r3@localhost`, AMQP on RABBIT_CLUSTER_PORT .. +2
# (5681-5683), Erlang distribution on +20000 (25681-25683), their own epmd on
# RABBIT_CLUSTER_EPMD_PORT (4371), their own Erlang cookie (HOME points into the state
# directory, so neither root's nor the rabbitmq user's cookie is read), no plugins (so no
# management listener), data and logs under RABBIT_CLUSTER_DIR (target/rabbit-cluster).
# The system's rabbitmq-env.conf, rabbitmq.conf and enabled_plugins are replaced by private
# ones, so its node name and port 5672 are never used. `start` wipes the previous data: every
# start is a fresh cluster. Runs as root (the server does not switch to the rabbitmq user
# when started through /usr/lib/rabbitmq/bin).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${RABBIT_CLUSTER_DIR:-$ROOT/target/rabbit-cluster}
BASE_PORT=${RABBIT_CLUSTER_PORT:-5681}
EPMD_PORT=${RABBIT_CLUSTER_EPMD_PORT:-4371}
READY_SECONDS=${RABBIT_CLUSTER_READY_SECONDS:-90}
RABBIT_BIN=/usr/lib/rabbitmq/bin
NODES=(1 2 3)

# Everything a server or CLI of this cluster runs with.
export HOME=$STATE/home
export ERL_EPMD_PORT=$EPMD_PORT
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_CONF_ENV_FILE=$STATE/rabbitmq-env.conf
export RABBITMQ_ENABLED_PLUGINS_FILE=$STATE/enabled_plugins
# The system file exports ERL_FLAGS; ours must not inherit a caller's.
unset ERL_FLAGS RABBITMQ_NODENAME RABBITMQ_NODE_PORT RABBITMQ_CONFIG_FILE

die() {
    echo "rabbit-cluster: $*" >&2
    exit 1
}

say() { echo "rabbit-cluster: $*"; }

node_name() { echo "social-r$1@localhost"; }
amqp_port() { echo $((BASE_PORT + $1 - 1)); }
pid_file() { echo "$STATE/r$1/rabbit.pid"; }

ctl() { # node number, rabbitmqctl arguments...
    local n=$1
    shift
    "$RABBIT_BIN/rabbitmqctl" -n "$(node_name "$n")" "$@"
}

alive() { # pid
    [[ -n $1 ]] && kill -0 "$1" 2>/dev/null
}

node_pid() { # node number
    local file
    file=$(pid_file "$1")
    [[ -f $file ]] && tr -d '[:space:]' <"$file"
    return 0
}

port_free() { # port
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

amqp_url() {
    local urls=() n
    for n in "${NODES[@]}"; do
        urls+=("amqp://guest:guest@127.0.0.1:$(amqp_port "$n")/%2f")
    done
    local IFS=,
    echo "${urls[*]}"
}

start_epmd() {
    port_free "$EPMD_PORT" || die "port $EPMD_PORT (epmd) is taken; set RABBIT_CLUSTER_EPMD_PORT"
    local epmd
    epmd=$(ls /usr/lib/erlang/erts-*/bin/epmd | head -n 1)
    setsid "$epmd" -port "$EPMD_PORT" -address 127.0.0.1 >"$STATE/epmd.log" 2>&1 &
    echo $! >"$STATE/epmd.pid"
}

start_node() { # node number
    local n=$1 dir=$STATE/r$1 port
    port=$(amqp_port "$n")
    port_free "$port" || die "port $port is taken; set RABBIT_CLUSTER_PORT"
    port_free $((port + 20000)) || die "port $((port + 20000)) (distribution) is taken"
    mkdir -p "$dir/mnesia" "$dir/log"
    cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$port
loopback_users = none
EOF
    # guest may connect: the listener is on loopback only.
    RABBITMQ_NODENAME=$(node_name "$n") \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT=$port \
        RABBITMQ_DIST_PORT=$((port + 20000)) \
        RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf \
        RABBITMQ_MNESIA_BASE=$dir/mnesia \
        RABBITMQ_LOG_BASE=$dir/log \
        RABBITMQ_PID_FILE=$(pid_file "$n") \
        ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        setsid "$RABBIT_BIN/rabbitmq-server" >"$dir/server.out" 2>&1 &
}

wait_node() { # node number
    local n=$1 waited=0
    until [[ -s $(pid_file "$n") ]]; do
        ((waited++ < READY_SECONDS * 2)) || die "node $n wrote no pid file; see $STATE/r$n/server.out"
        sleep 0.5
    done
    ctl "$n" wait --timeout "$READY_SECONDS" "$(pid_file "$n")" >/dev/null ||
        die "node $n did not start; see $STATE/r$n/server.out and $STATE/r$n/log"
}

start() {
    local n running=0
    for n in "${NODES[@]}"; do
        alive "$(node_pid "$n")" && running=1
    done
    ((running == 0)) || die "already running (scripts/rabbit-cluster.sh stop first)"
    [[ -x $RABBIT_BIN/rabbitmq-server ]] || die "RabbitMQ is not installed ($RABBIT_BIN)"
    rm -rf "$STATE"
    mkdir -p "$HOME"
    head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$HOME/.erlang.cookie"
    chmod 400 "$HOME/.erlang.cookie"
    : >"$RABBITMQ_CONF_ENV_FILE"
    echo '[].' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
    trap 'echo "rabbit-cluster: start failed; stopping what was started" >&2; stop >&2' ERR
    start_epmd
    for n in "${NODES[@]}"; do
        start_node "$n"
    done
    for n in "${NODES[@]}"; do
        wait_node "$n"
    done
    for n in "${NODES[@]:1}"; do
        ctl "$n" stop_app >/dev/null
        ctl "$n" join_cluster "$(node_name 1)" >/dev/null
        ctl "$n" start_app >/dev/null
    done
    ctl 1 await_online_nodes "${#NODES[@]}" --timeout "$READY_SECONDS" >/dev/null
    trap - ERR
    say "3 nodes clustered: $(node_name 1) $(node_name 2) $(node_name 3)"
    say "AMQP_URL=$(amqp_url)"
    echo "AMQP_URL=$(amqp_url)" >"$STATE/cluster.env"
}

status() {
    local n pid any=0
    for n in "${NODES[@]}"; do
        pid=$(node_pid "$n")
        if alive "$pid"; then
            any=1
            say "$(node_name "$n") pid $pid amqp 127.0.0.1:$(amqp_port "$n") running"
        else
            say "$(node_name "$n") not running"
        fi
    done
    if ((any)); then
        for n in "${NODES[@]}"; do
            if alive "$(node_pid "$n")"; then
                ctl "$n" cluster_status --formatter json 2>/dev/null |
                    python3 -c 'import json,sys; s=json.load(sys.stdin); print("rabbit-cluster: members", " ".join(sorted(s["disk_nodes"])), "| running", " ".join(sorted(s["running_nodes"])))' ||
                    true
                break
            fi
        done
        say "AMQP_URL=$(amqp_url)"
    fi
}

stop_pid() { # pid, what
    local pid=$1 waited=0
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid" && ((waited++ < 60)); do
        sleep 0.25
    done
    if alive "$pid"; then
        say "$2 (pid $pid) did not stop in 15 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

stop() {
    local n pid
    for n in "${NODES[@]}"; do
        pid=$(node_pid "$n")
        if alive "$pid"; then
            stop_pid "$pid" "$(node_name "$n")"
            say "stopped $(node_name "$n")"
        fi
    done
    if [[ -f $STATE/epmd.pid ]]; then
        stop_pid "$(tr -d '[:space:]' <"$STATE/epmd.pid")" epmd
        rm -f "$STATE/epmd.pid"
    fi
}

restart() { # node number
    local n=$1
    [[ -f $HOME/.erlang.cookie ]] || die "no cluster in $STATE (start one first)"
    alive "$(node_pid "$n")" && die "$(node_name "$n") is running"
    rm -f "$(pid_file "$n")"
    start_node "$n"
    wait_node "$n"
    ctl "$n" await_online_nodes "${#NODES[@]}" --timeout "$READY_SECONDS" >/dev/null
    say "$(node_name "$n") is back (pid $(node_pid "$n"))"
}

case "${1:-}" in
start) start ;;
status) status ;;
stop) stop ;;
pid | restart)
    [[ ${2:-} =~ ^[1-3]$ ]] || die "usage: $0 $1 1|2|3"
    if [[ $1 == pid ]]; then node_pid "$2"; else restart "$2"; fi
    ;;
*) die "usage: $0 start|status|stop|pid N|restart N" ;;
esac
