#!/usr/bin/env bash
# Renders /docs in headless Chromium with every host but loopback unreachable,
# and checks that Swagger UI drew the operations of the OpenAPI document.
# The api runs with no broker (the docs need none). Installs Debian's chromium if it is missing. Usage: scripts/check-docs-chromium.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
db="docs_check_$(date +%s)"
cargo build -q --bin api
JWT_SECRET_KEY=docs-check-docs-check-docs-check-123 DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" \
  SERVER_ADDRESS=127.0.0.1 SERVER_PORT="$port" AMQP_URL="amqp://guest:guest@127.0.0.1:1/%2f" RUST_LOG=error target/debug/api &
api=$!
trap 'kill $api 2>/dev/null; psql -q "postgres://postgres@127.0.0.1:5432/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.2; done
profile=$(mktemp -d)
# --host-resolver-rules makes every name but 127.0.0.1 unresolvable: a page that
# needed another host would render without it.
dom=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$profile" \
  --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" --virtual-time-budget=10000 \
  --dump-dom "http://127.0.0.1:$port/docs/" 2>/dev/null)
rm -rf "$profile"
operations=$(grep -o 'opblock-summary-path' <<<"$dom" | wc -l)
echo "swagger-ui rendered $operations operations"
grep -q 'class="swagger-ui' <<<"$dom" && [ "$operations" -ge 20 ] || { echo "docs did not render" >&2; exit 1; }
