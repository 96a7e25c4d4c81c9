# Shared shell helpers for the project's scripts. Source it; it sets no options of its own.
HPS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=versions.env
. "$HPS_ROOT/scripts/versions.env"
HPS_CACHE="${HPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/haproxy-peer-sync}"
HPS_BIN="$HPS_CACHE/bin"
HPS_NODE_DIR="$HPS_CACHE/node-$NODE_VERSION"
export HPS_ROOT HPS_CACHE HPS_BIN

die() { echo "setup: error: $*" >&2; exit 1; }
say() { echo "setup: $*" >&2; }

# Puts the pinned Node 24 (and the project's cached binaries) first on PATH.
use_pinned_node() {
  [ -x "$HPS_NODE_DIR/bin/node" ] || die "Node $NODE_VERSION is not installed; run: bash scripts/setup.sh"
  export PATH="$HPS_NODE_DIR/bin:$HPS_BIN:$PATH"
}
