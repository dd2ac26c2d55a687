#!/usr/bin/env bash
# Create .venv and install mailgate with its test extras; install the Debian
# packages that scripts/install.d/*.sh ask for (Dovecot, PostgreSQL...) when
# WITH_SERVICES=1. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "mailgate needs Python 3.11 or newer" >&2
    exit 1
fi
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
# pip's warnings go to a log that is shown only when the install fails
mkdir -p var
if ! { .venv/bin/python -m pip install -q --upgrade pip \
        && .venv/bin/python -m pip install -q -e '.[test]'; } >var/pip-install.log 2>&1; then
    cat var/pip-install.log >&2
    exit 1
fi

if [ "${WITH_SERVICES:-0}" = 1 ]; then
    for script in scripts/install.d/*.sh; do
        [ -e "$script" ] || continue
        bash "$script"
    done
fi
