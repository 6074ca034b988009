#!/usr/bin/env bash
# Fuzzes the api against its own OpenAPI document with schemathesis: every phase
# (examples, coverage, fuzzing, stateful), failing on any 5xx, any status or
# content type the document does not list, and any body that breaks its schema.
#
# Usage: scripts/fuzz-openapi.sh
#   API_BIN=target/debug/api   reuse a built binary instead of `cargo build --release --bin api`
#   FUZZ_MAX_EXAMPLES=100      test cases per operation and phase
#   FUZZ_SEED=<n>              replay a run
#   FUZZ_PG_URL, FUZZ_AMQP_URL the servers (default: this machine's)
#
# Needs PostgreSQL (trust auth, user postgres) and RabbitMQ on this machine.
# Installs schemathesis with pip into a venv under ~/.cache on first use.
# Runs against a scratch database and exchange, both removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

pg=${FUZZ_PG_URL:-postgres://postgres@127.0.0.1:5432}
amqp=${FUZZ_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
max_examples=${FUZZ_MAX_EXAMPLES:-100}
schemathesis_spec='schemathesis>=4.32,<5'
venv=${FUZZ_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/social-schemathesis/venv}
run=fuzz_$(date +%s)_$$
database=$run
exchange=fuzz.$run
work=$(mktemp -d)
api_pid=

log() { printf '== %s\n' "$*" >&2; }

cleanup() {
    local status=$?
    if [[ -n $api_pid ]] && kill -0 "$api_pid" 2>/dev/null; then
        kill "$api_pid" 2>/dev/null || true
        wait "$api_pid" 2>/dev/null || true
    fi
    psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 ||
        log "could not drop database $database"
    # The api declares the exchange, a dead-letter exchange and the webhook queues.
    if command -v rabbitmqctl >/dev/null; then
        for queue in $(rabbitmqctl -q list_queues name 2>/dev/null | grep -F "$exchange." || true); do
            rabbitmqctl -q delete_queue "$queue" >/dev/null 2>&1 || true
        done
        for name in $(rabbitmqctl -q list_exchanges name 2>/dev/null | grep -F "$exchange" || true); do
            rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$name\">>), false, <<\"fuzz\">>)." \
                >/dev/null 2>&1 || log "could not delete exchange $name"
        done
    fi
    if [[ $status -ne 0 && -s $work/api.log ]]; then
        log "last lines of the api's log"
        tail -n 20 "$work/api.log" >&2
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ ! -x $venv/bin/schemathesis ]]; then
    log "installing $schemathesis_spec into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$schemathesis_spec"
fi
log "$("$venv/bin/schemathesis" --version)"

if [[ -z ${API_BIN:-} ]]; then
    log "building the api (release)"
    cargo build --release --bin api
    API_BIN=target/release/api
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
admin=fuzz_admin
admin_password=$(openssl rand -hex 16)

psql -q "$pg/postgres" -c "CREATE DATABASE \"$database\"" >/dev/null
log "api on $base, database $database, exchange $exchange"
env DATABASE_URL="$pg/$database" AMQP_URL="$amqp" AMQP_EXCHANGE="$exchange" \
    SERVER_ADDRESS=127.0.0.1 SERVER_PORT="$port" \
    JWT_SECRET_KEY="$(openssl rand -hex 32)" \
    ADMIN_USERNAME="$admin" ADMIN_PASSWORD="$admin_password" \
    MEDIA_DIR="$work/media" POST_DAILY_LIMIT=0 \
    REGISTER_PER_HOUR=100000 LOGIN_MAX_FAILURES=100000 \
    RUST_LOG=warn \
    "$API_BIN" >"$work/api.log" 2>&1 &
api_pid=$!

for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "$base/health/ready" 2>/dev/null && break
    kill -0 "$api_pid" 2>/dev/null || { log "the api exited"; exit 1; }
    sleep 0.5
done
curl -fsS -o /dev/null "$base/health/ready" || { log "the api never became ready"; exit 1; }

# POST a JSON body, print the answer, fail on an error status.
post_json() { curl -fsS -X POST -H 'content-type: application/json' -d "$2" "$base$1"; }
# A token for `user` (registered first unless it is the admin).
token_of() {
    local user=$1 password=$2
    if [[ $user != "$admin" ]]; then
        post_json /api/v1/auth/register "{\"username\": \"$user\", \"password\": \"$password\"}" >/dev/null
    fi
    post_json /api/v1/auth/login "{\"username\": \"$user\", \"password\": \"$password\"}" | jq -er .access_token
}

# One schemathesis run, labelled `$1`; its "Test cases" line goes to the summary.
summary=()
schemathesis() {
    local label=$1 status
    shift
    # From the scratch directory: schemathesis keeps a cache in its working directory.
    (cd "$work" && "$venv/bin/schemathesis" run "$base/api-docs/openapi.json" --url "$base" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --max-examples "$max_examples" ${FUZZ_SEED:+--seed "$FUZZ_SEED"} \
        --generation-database none --no-color "$@") 2>&1 | tee "$work/run.log"
    status=${PIPESTATUS[0]}
    summary+=("$label: $(grep -A1 '^Test cases:' "$work/run.log" | tail -n 1 | xargs) (exit $status)")
    return "$status"
}

# Fuzzed as the admin, so that the admin operations are reached too. Three
# operations are left out of this pass:
# - POST /auth/logout and DELETE /users/me would revoke the token (or its user)
#   and turn the rest of the run into 401s; a pass of their own runs each.
# - POST /webhooks resolves and, later, delivers to whatever host it is given:
#   a fuzzer must never make the api send traffic off this machine.
log "pass: every other operation as an admin, every phase"
status=0
token=$(token_of "$admin" "$admin_password")
schemathesis "every other operation, as an admin" -H "Authorization: Bearer $token" \
    --phases examples,coverage,fuzzing,stateful \
    --exclude-name 'POST /api/v1/auth/logout' --exclude-name 'DELETE /api/v1/users/me' \
    --exclude-name 'POST /api/v1/webhooks' || status=$?

# Each ends its session at the first success, so each gets a user of its own.
for name in 'POST /api/v1/auth/logout' 'DELETE /api/v1/users/me'; do
    log "pass: $name, as a user of its own"
    token=$(token_of "fuzz_$RANDOM" "$(openssl rand -hex 12)")
    schemathesis "$name" -H "Authorization: Bearer $token" \
        --phases examples,coverage,fuzzing --include-name "$name" || status=$?
done

log "summary (schemathesis $("$venv/bin/schemathesis" --version | awk '{print $NF}'), $max_examples examples per operation and phase)"
printf '   %s\n' "${summary[@]}" >&2
if [[ $status -eq 0 ]]; then log "fuzzing found nothing"; else log "fuzzing failed (exit $status)"; fi
exit "$status"
