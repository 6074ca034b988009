#!/usr/bin/env bash
# Rebuilds the web client from its locked dependencies and fails if the result
# differs from the committed web/dist: the api embeds web/dist, so what a
# `cargo build` ships must be what the sources say. Usage: web/check-dist.sh
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build >/dev/null
# Untracked files count too: a build that adds an asset the commit lacks differs.
if ! git diff --exit-code --stat -- dist || [ -n "$(git ls-files --others --exclude-standard -- dist)" ]; then
  git ls-files --others --exclude-standard -- dist
  echo "web/dist differs from the sources: run (cd web && npm ci && npm run build) and commit web/dist" >&2
  exit 1
fi
echo "web/dist matches the sources"
