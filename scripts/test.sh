#!/usr/bin/env bash
# Set up everything the tests need (Python packages and the real servers the
# integration tests start on loopback), then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_SERVICES=1 bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
