#!/usr/bin/env bash
# Usage: bash scripts/image.sh [--output <file>]        (npm run image [-- --output <file>])
# Builds the project's one image (every role: webhook, syncer, init, cli) from the Dockerfile with the
# builder the tests use (scripts/build-images.sh: buildah, --network host, no registry), and writes it as
# an OCI archive, by default dist/haproxy-peer-sync-<version>.oci.tar. Prints the archive's path and the
# image's name (the name it carries inside the archive), one per line, on stdout.
#
# The archive is the very image the tests run on the node: scripts/build-images.sh rebuilds it only when
# its inputs changed (a warm run takes about a second), and this script copies it out. Load or push it
# with the usual tools, e.g. `skopeo copy oci-archive:<file> docker://<registry>/<name>:<tag>`,
# `podman load -i <file>`, `docker load -i <file>` (README: "Your own image").
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() { echo "usage: bash scripts/image.sh [--output <file>]" >&2; exit 2; }
output=
while [ $# -gt 0 ]; do
  case "$1" in
    --output) [ $# -ge 2 ] && [ -n "$2" ] || usage; output=$2; shift 2 ;;
    --output=?*) output=${1#--output=}; shift ;;
    -h|--help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "image: unknown argument: $1" >&2; usage ;;
  esac
done

version=$(sed -n '/^  "version": /{s/^  "version": "\([^"]*\)",*$/\1/p;q}' "$HPS_ROOT/package.json")
[ -n "$version" ] || die "image: no version in package.json"
output=${output:-$HPS_ROOT/dist/haproxy-peer-sync-$version.oci.tar}
# The index build-images.sh writes: `<archive> <image name>` per line; ours is the project's own name.
index="$HPS_CACHE/images/index.txt"
name="ghcr.io/haproxy-peer-sync/haproxy-peer-sync:$version"

# What build-images.sh needs and setup.sh installs: say so here rather than fail half-way.
[ -x "$HPS_NODE_DIR/bin/node" ] || die "image: Node $NODE_VERSION is not installed yet: run \`npm run setup\` first (it also installs buildah)"
command -v buildah >/dev/null || die "image: buildah is missing: run \`npm run setup\` first"

bash "$HPS_ROOT/scripts/build-images.sh"
archive=$(awk -v n="$name" '$2 == n { print $1 }' "$index")
[ -n "$archive" ] && [ -s "$archive" ] || die "image: $index lists no archive for $name"

# Copied to a temporary name beside the output and renamed: a reader never sees half an archive.
mkdir -p "$(dirname "$output")"
tmp="$(dirname "$output")/.$(basename "$output").tmp.$$"
trap 'rm -f "$tmp"' EXIT
cp "$archive" "$tmp"
mv -f "$tmp" "$output"
say "image: $name written to $output"
printf '%s\n%s\n' "$(realpath "$output")" "$name"
