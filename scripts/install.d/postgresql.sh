#!/usr/bin/env bash
# Install Debian's PostgreSQL server for the store tests (tests/servers/postgres.py
# starts a throwaway cluster from its binaries). Safe to run again.
set -euo pipefail

have_binaries() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null \
        && compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null
}

if have_binaries; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "postgresql.sh: PostgreSQL is missing and installing it needs root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql
# Debian's package creates and starts a default cluster on port 5432; the
# tests never use it, they run their own private cluster on loopback.
have_binaries
