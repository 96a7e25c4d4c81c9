#!/usr/bin/env bash
# Runs a command with the project's pinned Node 24 (and cached binaries) first on PATH.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
use_pinned_node
export PATH="$HPS_ROOT/node_modules/.bin:$PATH"
exec "$@"
