#!/usr/bin/env bash
# The README's quick start: a throwaway PostgreSQL with demo data, then dbops's main job on it —
# doctor, a compressed + checksummed backup into ./backups, a verify that test-restores it into a
# second throwaway cluster, and a restore into a new database. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent

dbops() { node bin/dbops.cjs "$@"; }

# As root the server runs as an unprivileged user, who must be able to reach the sandbox
# directory; under a private home (/root is 0700) use /tmp instead.
sandbox_dir=".dbops/sandbox"
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$PWD" 2>/dev/null; then
  sandbox_dir="/tmp/dbops-quickstart-$(echo "$PWD" | cksum | cut -d' ' -f1)"
fi
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "dbops sandbox up --seed demo --write-config --force"
dbops sandbox up --dir "$sandbox_dir" --seed demo --messages "${DBOPS_DEMO_MESSAGES:-100000}" --write-config --force

step "dbops doctor"
dbops doctor

step "dbops backup run"
dbops backup run --label purpose=quickstart

step "dbops backup list"
dbops backup list

step "dbops backup verify latest --restore"
dbops backup verify latest --restore

restored="demo_restored_$(date +%s)"
step "dbops restore run latest --database $restored --create --yes"
dbops restore run latest --database "$restored" --create --yes

step "done"
echo "The sandbox keeps running: psql \"\$(grep -o 'postgresql://[^\"]*' dbops.config.yaml)\""
echo "Try: dbops analyze --min-window 0 · dbops retention plan · dbops anonymize check"
echo "Stop it with: node bin/dbops.cjs sandbox down --dir $sandbox_dir --remove"
