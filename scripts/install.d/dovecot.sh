#!/usr/bin/env bash
# Install Debian's Dovecot (IMAP + POP3) and openssl for the integration tests;
# the tests start their own private instance on loopback, never the system one.
set -euo pipefail

if command -v dovecot >/dev/null 2>&1 && [ -x /usr/lib/dovecot/imap ] \
        && [ -x /usr/lib/dovecot/pop3 ] && command -v openssl >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "dovecot.sh: run as root to install dovecot-imapd dovecot-pop3d openssl" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists are refreshed only when apt has never fetched them here.
if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
    apt-get update -qq
fi
if ! apt-get install -y -qq dovecot-imapd dovecot-pop3d openssl; then
    apt-get update -qq
    apt-get install -y -qq dovecot-imapd dovecot-pop3d openssl
fi
# The packaged service is not needed: the tests run a private instance.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
    systemctl disable --now dovecot >/dev/null 2>&1 || true
fi
