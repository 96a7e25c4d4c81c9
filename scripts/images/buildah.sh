#!/usr/bin/env bash
# Usage: bash scripts/images/buildah.sh <buildah arguments...>
# buildah against the project's image storage ($HPS_CACHE/buildah), for looking at what
# scripts/build-images.sh built, e.g. `images`, `inspect docker.io/library/haproxy:2.6`. Runs in a
# private mount namespace and under the build lock, like the build itself.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$HPS_ROOT/scripts/images/buildah-env.sh"
[ $# -ge 1 ] || die "usage: bash scripts/images/buildah.sh <buildah arguments...>"
[ "${HPS_BUILDAH_NS:-}" = "$$" ] || lock_buildah_storage
enter_private_mount_ns "$@"
trap leave_private_mount_ns EXIT
prepare_buildah
bah "$@"
