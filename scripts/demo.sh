#!/usr/bin/env bash
# Set up mailgate and run its main job on the embedded default config.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/mailgate validate --config .
