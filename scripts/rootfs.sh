#!/usr/bin/env bash
# Usage: bash scripts/rootfs.sh <suite> [packages...]
#
# A Debian root filesystem (mmdebstrap --variant=minbase <suite>, plus the given packages) as a tar file,
# cached at $HPS_CACHE/rootfs/<suite>-<packages joined by +>.tar (<suite>-minbase.tar without packages).
# Prints that path on stdout (and nothing else there); builds it only when it is absent. Used by
# scripts/build-images.sh for the image bases and by the node to run HAProxy 3.0 from trixie.
#
# Built to a temporary name and renamed on success, under a lock, so concurrent callers wait for one build
# and an interrupted build is never mistaken for a good one. A stamp beside the tar (<name>.tar.recipe)
# holds the mmdebstrap options it was made with: a change of recipe rebuilds it. Delete the tar to refresh
# its packages from the mirror.
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
mirror="${HPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
include=()
[ ${#pkgs[@]} -eq 0 ] || include=("--include=$(IFS=,; echo "${pkgs[*]}")")
# maybe-merged-usr: merged /usr set up by mmdebstrap's hook (as debootstrap does) where the suite has
# usr-is-merged; without it, bookworm pulls in the usrmerge package and with it all of perl (+40 MB).
# Documentation and translations are left out, as in Debian's -slim images (copyright files stay).
opts=(--mode=root --variant=minbase "${include[@]}"
  --hook-dir=/usr/share/mmdebstrap/hooks/maybe-merged-usr
  --aptopt='Acquire::Retries "3"'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  "$suite" "$mirror")
recipe="$(printf '%s\n' "${opts[@]}")"
fresh() { [ -s "$out" ] && [ "$(cat "$out.recipe" 2>/dev/null)" = "$recipe" ]; }
mkdir -p "$dir"
fresh && { echo "$out"; exit 0; }

command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install mmdebstrap"
[ "$(id -u)" = 0 ] || die "rootfs: building $name needs root (mmdebstrap's root mode)"

exec 9>"$dir/.$name.lock"
flock 9
# Another caller may have built it while this one waited for the lock.
fresh && { echo "$out"; exit 0; }

tmp="$dir/.$name.tmp.$$.tar"
log="$dir/.$name.log"
trap 'rm -f "$tmp"' EXIT
say "rootfs $name: mmdebstrap --variant=minbase $suite (about 1.5 minutes)"
# A private mount namespace: mmdebstrap's chroot mounts (proc, sys, dev) can never stay behind on the
# host, even if it is killed. The output file goes between the suite and the mirror.
if ! unshare --mount --propagation private \
  mmdebstrap --quiet "${opts[@]:0:${#opts[@]}-1}" "$tmp" "$mirror" >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  die "rootfs $name: mmdebstrap failed (is $mirror reachable? full log: $log)"
fi
mv -f "$tmp" "$out"
echo "$recipe" >"$out.recipe"
say "rootfs $name: $(du -h "$out" | cut -f1) at $out"
echo "$out"
