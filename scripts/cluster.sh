#!/usr/bin/env bash
# A local cluster of the served mode behind a private nginx:
#
#   scripts/cluster.sh start [N_API] [M_NOTIFIER]   (default 2 2)
#   scripts/cluster.sh status
#   scripts/cluster.sh stop
#
# `start` runs N `api` and M `notifier` processes of the release build on loopback ports
# below 32768, all on one scratch database `cluster_<stamp>` and one exchange
# `cluster.<stamp>`, and an nginx of its own (config, pid and logs in the state directory,
# never the system service) on CLUSTER_PORT (default 8080): `/ws` round-robin to the
# notifiers (WebSocket upgrade, 1 h read timeout), everything else round-robin to the apis:
# the routes of deploy/nginx-routes.conf, which the compose nginx includes too. Every api gets
# PUBLIC_WEBSOCKET_URL=/ws, and all instances share one MEDIA_DIR (<state>/media).
# It returns once every instance answers GET /health/ready, and fails (exit 1, naming the
# instance, with the end of its log) otherwise, stopping what it started.
# `stop` kills them by pid, drops the database and deletes the exchange when RabbitMQ's
# management API answers (`rabbitmqadmin`); it does nothing when nothing runs.
#
# Settings (environment):
#   CLUSTER_PORT         public port of nginx (8080)
#   CLUSTER_STATE_DIR    state, logs, nginx files (target/cluster)
#   CLUSTER_PG_SERVER    PostgreSQL server (postgres://postgres@127.0.0.1:5432)
#   CLUSTER_READY_SECONDS  how long an instance may take to become ready (60)
#   CLUSTER_BIN_DIR      where `api` and `notifier` are (target/release, built when missing;
#                        any other folder must hold them, e.g. target/debug for the tests)
#   AMQP_URL             RabbitMQ node(s), passed to every instance (its default otherwise)
#   JWT_SECRET_KEY       shared key; a random one is generated when unset
#   anything else (POST_DAILY_LIMIT, RUST_LOG, ...) reaches every instance unchanged.
# The scratch database's URL, the public URLs and the key's file are printed and kept in
# <state>/cluster.env.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Absolute: the instances run inside it, and their log paths are written from here.
STATE=$(realpath -m "${CLUSTER_STATE_DIR:-$ROOT/target/cluster}")
PUBLIC_PORT=${CLUSTER_PORT:-8080}
PG_SERVER=${CLUSTER_PG_SERVER:-postgres://postgres@127.0.0.1:5432}
READY_SECONDS=${CLUSTER_READY_SECONDS:-60}
BIN_DIR=${CLUSTER_BIN_DIR:-$ROOT/target/release}
PROCESSES=$STATE/processes
CLUSTER_ENV=$STATE/cluster.env
LOGS=$STATE/logs
# Ports handed out during this start (so two instances never get the same one).
TAKEN=" "
# Set while `start` runs: a failure then stops what was started.
STARTING=0
# Results of free_port_from and spawn (globals: they run in this shell, not a subshell).
PORT=
PID=

die() {
    echo "cluster: $*" >&2
    if ((STARTING)); then
        STARTING=0
        trap - ERR
        echo "cluster: start failed; stopping what was started" >&2
        stop >&2 || true
    fi
    exit 1
}

say() {
    echo "cluster: $*"
}

usage() {
    echo "usage: $0 start [N_API] [M_NOTIFIER] | status | stop" >&2
    exit 2
}

# Value of KEY in cluster.env (empty when missing).
setting() {
    [[ -f $CLUSTER_ENV ]] || return 0
    sed -n "s/^$1=//p" "$CLUSTER_ENV" | head -n 1
}

port_in_use() {
    [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
}

# Sets PORT to the first port from $1 up that nobody listens on and this start has not
# handed out.
free_port_from() {
    PORT=$1
    while port_in_use "$PORT" || [[ $TAKEN == *" $PORT "* ]]; do
        PORT=$((PORT + 1))
        ((PORT < 32768)) || die "no free port between $1 and 32767"
    done
    TAKEN+="$PORT "
}

# True when pid $1 is alive and runs a program named $2 (guards against a reused pid).
is_ours() {
    local pid=$1 name=$2 exe
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
    [[ $(basename "${exe% (deleted)}") == "$name" ]]
}

ready() {
    curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$1/health/ready" 2>/dev/null
}

# Waits until instance $1 (pid $2, port $3, log $4) is ready; fails loudly otherwise.
wait_ready() {
    local what=$1 pid=$2 port=$3 log=$4 deadline=$((SECONDS + READY_SECONDS))
    until ready "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "cluster: $what (pid $pid, port $port) exited during start-up; end of $log:" >&2
            tail -n 20 "$log" >&2 || true
            return 1
        fi
        if ((SECONDS >= deadline)); then
            echo "cluster: $what (pid $pid, port $port) not ready after ${READY_SECONDS}s; end of $log:" >&2
            tail -n 20 "$log" >&2 || true
            return 1
        fi
        sleep 0.2
    done
}

# Starts binary $1 (api | notifier), instance $2, on port $3; records it; sets PID.
spawn() {
    local kind=$1 index=$2 port=$3 log="$LOGS/$1-$2.log"
    (
        cd "$STATE"
        export DATABASE_URL AMQP_EXCHANGE JWT_SECRET_KEY TRUSTED_PROXIES MEDIA_DIR
        export SERVER_ADDRESS=127.0.0.1
        # Web clients served by the apis open their socket on the balancer's /ws.
        export PUBLIC_WEBSOCKET_URL=/ws
        if [[ $kind == api ]]; then export SERVER_PORT=$port; else export WEBSOCKET_PORT=$port; fi
        exec nohup "$BIN_DIR/$kind" >"$log" 2>&1 </dev/null
    ) &
    PID=$!
    echo "$kind $index $PID $port" >>"$PROCESSES"
}

start() {
    local apis=${1:-2} notifiers=${2:-2}
    [[ $apis =~ ^[1-9][0-9]*$ && $notifiers =~ ^[1-9][0-9]*$ ]] || die "N_API and M_NOTIFIER must be positive integers (got '$apis' '$notifiers')"
    ((PUBLIC_PORT > 0 && PUBLIC_PORT < 32768)) || die "CLUSTER_PORT must be below 32768 (got $PUBLIC_PORT)"
    if [[ -s $PROCESSES ]]; then
        die "a cluster is already recorded in $STATE (scripts/cluster.sh status); stop it first"
    fi
    command -v curl >/dev/null || die "curl is required"
    command -v psql >/dev/null || die "psql is required (apt-get install -y postgresql-client)"
    if [[ ! -x $BIN_DIR/api || ! -x $BIN_DIR/notifier ]]; then
        [[ $BIN_DIR == "$ROOT/target/release" ]] || die "no api and notifier in CLUSTER_BIN_DIR=$BIN_DIR"
        say "building the release binaries (cargo build --release --bins)"
        (cd "$ROOT" && cargo build --release --bins) || die "release build failed"
    fi
    if ! command -v nginx >/dev/null; then
        say "installing nginx (apt-get install -y nginx; the system service is not used)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >/dev/null || die "could not install nginx"
    fi
    local nginx_bin
    nginx_bin=$(command -v nginx) || die "nginx not found after installation"
    port_in_use "$PUBLIC_PORT" && die "port $PUBLIC_PORT is taken: set CLUSTER_PORT"
    TAKEN+="$PUBLIC_PORT "

    mkdir -p "$STATE" "$LOGS" "$STATE/media" "$STATE/nginx-temp"
    : >"$PROCESSES"
    # Each start's logs begin empty (the instances' are rewritten, nginx appends).
    : >"$LOGS/nginx-access.log"
    : >"$LOGS/nginx-error.log"
    STARTING=1
    trap 'die "a command failed (line $LINENO)"' ERR

    local stamp database
    stamp=$(date -u +%Y%m%d%H%M%S)_$$
    database=cluster_$stamp
    DATABASE_URL=$PG_SERVER/$database
    AMQP_EXCHANGE=cluster.$stamp
    TRUSTED_PROXIES=${TRUSTED_PROXIES:-127.0.0.1}
    MEDIA_DIR=$STATE/media
    if [[ -z ${JWT_SECRET_KEY:-} ]]; then
        JWT_SECRET_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    fi
    (umask 077 && printf '%s\n' "$JWT_SECRET_KEY" >"$STATE/jwt-secret")
    cat >"$CLUSTER_ENV" <<EOF
DATABASE=$database
DATABASE_URL=$DATABASE_URL
PG_SERVER=$PG_SERVER
AMQP_EXCHANGE=$AMQP_EXCHANGE
AMQP_URL=${AMQP_URL:-}
PUBLIC_URL=http://127.0.0.1:$PUBLIC_PORT
WS_URL=ws://127.0.0.1:$PUBLIC_PORT/ws
JWT_SECRET_FILE=$STATE/jwt-secret
EOF
    psql -q -v ON_ERROR_STOP=1 "$PG_SERVER/postgres" -c "CREATE DATABASE \"$database\"" >/dev/null

    local i pid
    local -a api_ports=() notifier_ports=() api_pids=() notifier_pids=()
    # The apis first (they migrate the database, under an advisory lock), all at once.
    for ((i = 1; i <= apis; i++)); do
        free_port_from $((PUBLIC_PORT + 100))
        spawn api "$i" "$PORT"
        api_ports+=("$PORT")
        api_pids+=("$PID")
    done
    for ((i = 1; i <= apis; i++)); do
        wait_ready "api $i" "${api_pids[i - 1]}" "${api_ports[i - 1]}" "$LOGS/api-$i.log" ||
            die "api $i did not come up"
    done
    for ((i = 1; i <= notifiers; i++)); do
        free_port_from $((PUBLIC_PORT + 200))
        spawn notifier "$i" "$PORT"
        notifier_ports+=("$PORT")
        notifier_pids+=("$PID")
    done
    for ((i = 1; i <= notifiers; i++)); do
        wait_ready "notifier $i" "${notifier_pids[i - 1]}" "${notifier_ports[i - 1]}" "$LOGS/notifier-$i.log" ||
            die "notifier $i did not come up"
    done

    write_nginx_conf
    "$nginx_bin" -t -q -p "$STATE/" -e "$LOGS/nginx-error.log" -c "$STATE/nginx.conf" ||
        die "nginx refused $STATE/nginx.conf"
    "$nginx_bin" -p "$STATE/" -e "$LOGS/nginx-error.log" -c "$STATE/nginx.conf" ||
        die "nginx did not start; see $LOGS/nginx-error.log"
    local deadline=$((SECONDS + 10))
    until [[ -s $STATE/nginx.pid ]]; do
        ((SECONDS < deadline)) || die "nginx wrote no pid file"
        sleep 0.1
    done
    pid=$(<"$STATE/nginx.pid")
    echo "nginx 1 $pid $PUBLIC_PORT" >>"$PROCESSES"
    wait_ready "nginx" "$pid" "$PUBLIC_PORT" "$LOGS/nginx-error.log" || die "nginx did not come up"
    local status
    status=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
        -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
        "http://127.0.0.1:$PUBLIC_PORT/ws" || true)
    # Without credentials the notifier refuses the upgrade with 401: the route reaches it.
    [[ $status == 401 ]] || die "/ws through nginx answered '$status', expected 401 (no token)"
    trap - ERR
    STARTING=0

    say "$apis api + $notifiers notifier ready behind nginx on 127.0.0.1:$PUBLIC_PORT"
    say "apis: ${api_ports[*]}; notifiers: ${notifier_ports[*]}"
    sed 's/^/  /' "$CLUSTER_ENV"
    say "logs in $LOGS; scripts/cluster.sh stop removes it all"
}

write_nginx_conf() {
    local port servers_api="" servers_ws=""
    while read -r kind _ _ port; do
        case $kind in
            api) servers_api+="        server 127.0.0.1:$port;"$'\n' ;;
            notifier) servers_ws+="        server 127.0.0.1:$port;"$'\n' ;;
        esac
    done <"$PROCESSES"
    cat >"$STATE/nginx.conf" <<EOF
# Written by scripts/cluster.sh: a private nginx for the local cluster (not the system one).
worker_processes auto;
worker_rlimit_nofile 65536;
pid $STATE/nginx.pid;
error_log $LOGS/nginx-error.log warn;

events {
    worker_connections 16384;
}

http {
    # Which instance answered, and how long it took.
    log_format cluster '\$remote_addr [\$time_local] "\$request" \$status -> \$upstream_addr \$upstream_response_time s';
    access_log $LOGS/nginx-access.log cluster;
    client_body_temp_path $STATE/nginx-temp/body;
    proxy_temp_path $STATE/nginx-temp/proxy;
    fastcgi_temp_path $STATE/nginx-temp/fastcgi;
    uwsgi_temp_path $STATE/nginx-temp/uwsgi;
    scgi_temp_path $STATE/nginx-temp/scgi;
    # Avatars (AVATAR_MAX_BYTES, 2 MiB by default) and the JSON around them.
    client_max_body_size 4m;

    upstream api {
$servers_api        keepalive 64;
    }

    upstream notifier {
$servers_ws    }

    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      close;
    }

    server {
        listen 127.0.0.1:$PUBLIC_PORT;
        # The routes of the compose nginx too: one file, one set of rules.
        include $ROOT/deploy/nginx-routes.conf;
    }
}
EOF
}

# Ends process $2 (pid) of program $1 with SIGTERM, then SIGKILL after 10 s.
end_process() {
    local name=$1 pid=$2 waited=0
    is_ours "$pid" "$name" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        if ((waited >= 100)); then
            echo "cluster: $name (pid $pid) ignored SIGTERM for 10 s: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

delete_exchange() {
    local exchange=$1 url user=guest pass=guest host=127.0.0.1 vhost=/ rest
    url=$(setting AMQP_URL)
    url=${url:-amqp://guest:guest@127.0.0.1:5672/%2f}
    url=${url%%,*}
    rest=${url#amqp*://}
    if [[ $rest == *@* ]]; then
        user=${rest%%:*}
        pass=${rest%%@*}
        pass=${pass#*:}
        rest=${rest#*@}
    fi
    host=${rest%%[:/]*}
    if [[ $rest == */* ]]; then
        vhost=${rest#*/}
        vhost=${vhost//%2f/\/}
        vhost=${vhost//%2F/\/}
        vhost=${vhost:-/}
    fi
    local admin=(rabbitmqadmin -H "$host" -u "$user" -p "$pass" -V "$vhost")
    if command -v rabbitmqadmin >/dev/null && "${admin[@]}" list exchanges name >/dev/null 2>&1; then
        "${admin[@]}" delete queue name="$exchange.dead" >/dev/null 2>&1 || true
        "${admin[@]}" delete exchange name="$exchange.dead" >/dev/null 2>&1 || true
        "${admin[@]}" delete exchange name="$exchange" >/dev/null 2>&1 || true
        say "deleted exchange $exchange (and $exchange.dead)"
    else
        say "left exchange $exchange, exchange and queue $exchange.dead on RabbitMQ: its management API" \
            "does not answer on $host (rabbitmqadmin needs it); the notifiers' queues expire 5 min after they stopped"
    fi
}

stop() {
    local kind index pid port stopped=0
    if [[ -f $PROCESSES ]]; then
        # nginx first (no new requests), then the notifiers and apis.
        while read -r kind index pid port; do
            if [[ $kind == nginx ]] && is_ours "$pid" nginx; then
                end_process nginx "$pid"
                stopped=$((stopped + 1))
            fi
        done <"$PROCESSES"
        while read -r kind index pid port; do
            if [[ $kind != nginx ]] && is_ours "$pid" "$kind"; then
                end_process "$kind" "$pid"
                stopped=$((stopped + 1))
            fi
        done <"$PROCESSES"
        rm -f "$PROCESSES"
    fi
    local database exchange server
    database=$(setting DATABASE)
    exchange=$(setting AMQP_EXCHANGE)
    server=$(setting PG_SERVER)
    if [[ -n $database ]]; then
        if psql -q -v ON_ERROR_STOP=1 "${server:-$PG_SERVER}/postgres" \
            -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null; then
            say "dropped database $database"
        else
            echo "cluster: could not drop database $database" >&2
        fi
    fi
    if [[ -n $exchange ]]; then
        delete_exchange "$exchange"
    fi
    rm -f "$CLUSTER_ENV" "$STATE/jwt-secret" "$STATE/nginx.pid"
    if [[ -z $database && $stopped == 0 ]]; then
        say "nothing running"
    else
        say "stopped $stopped processes"
    fi
}

status() {
    if [[ ! -s $PROCESSES ]]; then
        say "nothing running"
        return 0
    fi
    sed 's/^/  /' "$CLUSTER_ENV" 2>/dev/null || true
    printf '  %-9s %-3s %-8s %-6s %s\n' kind '#' pid port state
    local kind index pid port state failing=0
    while read -r kind index pid port; do
        if ! is_ours "$pid" "$kind"; then
            state=gone
            failing=1
        elif ready "$port"; then
            state=ready
        else
            state="running, not ready"
            failing=1
        fi
        printf '  %-9s %-3s %-8s %-6s %s\n' "$kind" "$index" "$pid" "$port" "$state"
    done <"$PROCESSES"
    return "$failing"
}

case ${1:-} in
    start)
        shift
        (($# <= 2)) || usage
        start "$@"
        ;;
    stop) stop ;;
    status) status ;;
    *) usage ;;
esac
