#!/usr/bin/env bash
# `npm test`: the whole suite on a fresh machine — installs what is missing (system packages
# when root on Debian/Ubuntu, npm packages), builds, then runs unit and integration tests.
# Integration tests start their own PostgreSQL cluster and S3-compatible server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh --test
[ -x node_modules/.bin/vitest ] || npm ci --no-audit --no-fund
npm run build --silent
exec node_modules/.bin/vitest run "$@"
