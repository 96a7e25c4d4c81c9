#!/usr/bin/env bash
# Usage: bash scripts/rootfs.sh <suite> [packages...]
#
# A Debian root filesystem (mmdebstrap --variant=minbase <suite>, plus the given packages) as a tar file,
# cached at $HPS_CACHE/rootfs/<suite>-<packages joined by +>.tar (<suite>-minbase.tar without packages).
# Prints that path on stdout (and nothing else there); builds it only when it is absent. Used by
# scripts/build-images.sh for the image bases and by the node to run HAProxy 3.0 from trixie.
#
# Built to a temporary name and renamed on success, under a lock, so concurrent callers wait for one build
# and an interrupted build is never mistaken for a good one. Delete the tar to refresh it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || die "usage: bash scripts/rootfs.sh <suite> [packages...]"
suite=$1; shift
[[ "$suite" =~ ^[a-z]+$ ]] || die "rootfs: '$suite' is not a Debian suite name (e.g. bookworm, trixie)"
# Sorted and de-duplicated, so the same set always names the same file.
mapfile -t pkgs < <(printf '%s\n' "$@" | sed '/^$/d' | sort -u)
for p in "${pkgs[@]}"; do [[ "$p" =~ ^[a-z0-9][a-z0-9.+-]*$ ]] || die "rootfs: '$p' is not a Debian package name"; done
if [ ${#pkgs[@]} -eq 0 ]; then name="$suite-minbase"; else name="$suite-$(IFS=+; echo "${pkgs[*]}")"; fi

dir="$HPS_CACHE/rootfs"
out="$dir/$name.tar"
mkdir -p "$dir"
[ -s "$out" ] && { echo "$out"; exit 0; }

command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install mmdebstrap"
[ "$(id -u)" = 0 ] || die "rootfs: building $name needs root (mmdebstrap's root mode)"

exec 9>"$dir/.$name.lock"
flock 9
# Another caller may have built it while this one waited for the lock.
[ -s "$out" ] && { echo "$out"; exit 0; }

mirror="${HPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
tmp="$dir/.$name.tmp.$$.tar"
log="$dir/.$name.log"
trap 'rm -f "$tmp"' EXIT
say "rootfs $name: mmdebstrap --variant=minbase $suite (about 1.5 minutes)"
include=()
[ ${#pkgs[@]} -eq 0 ] || include=("--include=$(IFS=,; echo "${pkgs[*]}")")
# A private mount namespace: mmdebstrap's chroot mounts (proc, sys, dev) can never stay behind on the
# host, even if it is killed. Documentation and translations are left out, as in Debian's -slim images
# (copyright files stay).
if ! unshare --mount --propagation private \
  mmdebstrap --quiet --mode=root --variant=minbase "${include[@]}" \
    --aptopt='Acquire::Retries "3"' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    "$suite" "$tmp" "$mirror" >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  die "rootfs $name: mmdebstrap failed (is $mirror reachable? full log: $log)"
fi
mv -f "$tmp" "$out"
say "rootfs $name: $(du -h "$out" | cut -f1) at $out"
echo "$out"
