#!/usr/bin/env bash
# Installs the system packages dbops needs when they are missing (Debian/Ubuntu, as root).
#   --test  also what the test suite uses: the real `age` CLI and HypoPG.
# Elsewhere it only says what to install; it never installs anything without root and apt.
set -euo pipefail
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

missing=()
have_server=0
if command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then have_server=1; fi
[ "$have_server" = 1 ] || missing+=(postgresql)
command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql-client)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
if [ "$want_test" = 1 ]; then
  command -v age >/dev/null 2>&1 || missing+=(age)
fi

major=""
if command -v pg_config >/dev/null 2>&1; then major=$(pg_config --version | sed -E 's/[^0-9]*([0-9]+).*/\1/'); fi
[ -n "$major" ] || major=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)
[ -n "$major" ] || major=15
if [ "$want_test" = 1 ] && [ ! -f "/usr/share/postgresql/$major/extension/hypopg.control" ]; then
  missing+=("postgresql-$major-hypopg")
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq
  # The postgresql package's own cluster is not used (the sandbox makes private ones).
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "dbops needs: ${missing[*]}" >&2
  echo "  Debian/Ubuntu: sudo apt-get install ${missing[*]}" >&2
  echo "  macOS: brew install postgresql@16 zstd age" >&2
  exit 1
fi
