#!/usr/bin/env bash
# The web client in a real browser: starts the release `social` on free
# loopback ports with a scratch data directory, and drives Debian's chromium
# with playwright-core through web/tests/browser.mjs (two people, live posts,
# a dropped connection, a mention, an avatar, a failed sign-in). Screenshots
# go to target/browser/. Installs chromium and the npm packages if missing;
# builds target/release/social if missing. Usage: scripts/browser-test.sh
# (SOCIAL_BIN=target/debug/social runs another build, for a quicker loop.)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

install_chromium() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
# A fresh machine may need the package lists first.
command -v chromium >/dev/null || install_chromium || { apt-get update -q >/dev/null && install_chromium; }
[ -d web/node_modules/playwright-core ] || (cd web && npm ci --no-audit --no-fund --loglevel=error)
bin=${SOCIAL_BIN:-target/release/social}
[ -x "$bin" ] || [ -n "${SOCIAL_BIN:-}" ] || cargo build --release --bin social

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
api_port=$(free_port)
ws_port=$(free_port)
while [ "$ws_port" = "$api_port" ]; do ws_port=$(free_port); done
scratch=$(mktemp -d)
mkdir -p target/browser

# Its own working directory: no .env of the repository, nothing written to ./data.
# Short-lived access tokens and a small post quota bring the silent refresh and
# the quota message within the test's minute.
(cd "$scratch" && exec env -u AMQP_URL -u PUBLIC_WEBSOCKET_URL -u PUBLIC_BASE_URL \
  DATABASE_URL="sqlite://$scratch/social.db" MEDIA_DIR="$scratch/media" \
  JWT_SECRET_KEY="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" \
  SERVER_ADDRESS=127.0.0.1 SERVER_PORT="$api_port" WEBSOCKET_PORT="$ws_port" RUST_LOG=warn \
  JWT_TTL_SECONDS=70 POST_DAILY_LIMIT=25 \
  "$root/$bin" >"$root/target/browser/social.log" 2>&1) &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$scratch"' EXIT

for _ in $(seq 1 150); do
  curl -fs "http://127.0.0.1:$api_port/health/ready" >/dev/null && break
  kill -0 $server 2>/dev/null || { cat target/browser/social.log >&2; exit 1; }
  sleep 0.2
done
curl -fs "http://127.0.0.1:$api_port/health/ready" >/dev/null || { echo "social never became ready" >&2; exit 1; }

cd web
BASE_URL="http://127.0.0.1:$api_port" CHROMIUM="$(command -v chromium)" SCREENSHOTS="$root/target/browser" \
  timeout 300 node tests/browser.mjs
