#!/usr/bin/env bash
# Set up mailgate and run its main job on the embedded default: the shipped
# config, a local maildir mailbox and an SQLite store (nothing to start).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mg=.venv/bin/mailgate

echo "== validate the shipped config"
$mg validate --config .

echo "== drop the sample mails into the demo mailbox (var/maildir/demo)"
mkdir -p var/maildir/demo/{new,cur,tmp}
stamp=$(date +%s)
for mail in samples/*.eml; do
    cp "$mail" "var/maildir/demo/new/${stamp}.$(basename "$mail" .eml).demo"
done

echo "== poll once"
$mg poll --once --config .

echo "== the tickets"
$mg tickets list --config .

echo "== what happened to each mail, and why"
$mg log --config . --limit 20
