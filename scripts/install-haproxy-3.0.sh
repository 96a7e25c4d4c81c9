#!/usr/bin/env bash
# Installs HAProxy 3.0 LTS (Debian trixie's package) into $HPS_CACHE/haproxy-$HAPROXY_30_VERSION/, runnable on
# this bookworm host, for the tests that run every HAProxy-backed case on 2.6 and on 3.0. Prints the binary's
# path on stdout (and nothing else there). Idempotent: a warm run only checks the cached binary's version.
#
# Trixie's haproxy needs trixie's glibc, so it does not run on bookworm as it is. It is taken from the
# cached trixie root filesystem (scripts/rootfs.sh) with the shared libraries it needs (its DT_NEEDED closure,
# glibc and the dynamic loader included), and patched with patchelf: the interpreter is that loader, by
# absolute path, and DT_RPATH is $ORIGIN/../lib (DT_RPATH, unlike DT_RUNPATH, also covers the libraries'
# own dependencies, so nothing is ever taken from the host's /lib). HAProxy's master re-executes this same
# file on a reload, so master-worker reloads keep working (checked by the tests). Chosen over chroot or
# unshare because the tests need no privileges to run it and it sees the host's paths (sockets, configs).
#
# Built in a temporary directory beside the target and renamed on success; the version obtained must be the
# pinned one (scripts/versions.env), else nothing is installed and the script fails saying so.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

: "${HAPROXY_30_VERSION:?HAPROXY_30_VERSION is not set in scripts/versions.env}"
: "${HAPROXY_30_SUITE:?HAPROXY_30_SUITE is not set in scripts/versions.env}"
want=$HAPROXY_30_VERSION
dest="$HPS_CACHE/haproxy-$want"
multiarch=x86_64-linux-gnu
loader=ld-linux-x86-64.so.2

# "HAProxy version 3.0.11-1+deb13u5 2026/11/18 - https://haproxy.org/" → 3.0.11-1+deb13u5
full_version() { "$@" -v 2>/dev/null | sed -n '1s/^HAProxy version \([^ ]*\) .*/\1/p'; }
upstream() { echo "${1%%-*}"; }

if [ -x "$dest/sbin/haproxy" ]; then
  got=$(full_version "$dest/sbin/haproxy" || true)
  if [ "$(upstream "$got")" = "$want" ]; then say "haproxy $want: cached ($got)"; echo "$dest/sbin/haproxy"; exit 0; fi
  say "haproxy $want: the cached copy answers '${got:-nothing}'; reinstalling"
fi

[ "$(uname -m)" = x86_64 ] || die "haproxy $want: only x86_64 hosts are supported (this is $(uname -m))"
command -v patchelf >/dev/null || die "patchelf is missing: apt-get install patchelf"
tar=$(bash "$HPS_ROOT/scripts/rootfs.sh" "$HAPROXY_30_SUITE" haproxy) || die "haproxy $want: no $HAPROXY_30_SUITE root filesystem (scripts/rootfs.sh failed)"

mkdir -p "$HPS_CACHE"
tmp=$(mktemp -d "$HPS_CACHE/.haproxy-$want.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
say "haproxy $want: taking Debian $HAPROXY_30_SUITE's package out of $tar"
mkdir -p "$tmp/root" "$tmp/out/sbin" "$tmp/out/lib"
tar -xf "$tar" -C "$tmp/root" ./usr/sbin/haproxy "./usr/lib/$multiarch" ./var/lib/dpkg/status \
  || die "haproxy $want: $tar has no usr/sbin/haproxy (was the root filesystem built with the haproxy package?)"
pkg_version=$(awk '/^Package: haproxy$/ {p=1} p && /^Version: / {print $2; exit}' "$tmp/root/var/lib/dpkg/status")
[ "$(upstream "$pkg_version")" = "$want" ] \
  || die "haproxy: Debian $HAPROXY_30_SUITE now ships haproxy $pkg_version, not the pinned $want (HAPROXY_30_VERSION in scripts/versions.env). Pin the new version only after checking its peers section flags (syncer/haproxy-version.ts); delete $tar to fetch the suite again."

# The DT_NEEDED closure, resolved in the root filesystem's library directory.
libdir="$tmp/root/usr/lib/$multiarch"
cp "$tmp/root/usr/sbin/haproxy" "$tmp/out/sbin/haproxy"
cp -L "$libdir/$loader" "$tmp/out/lib/$loader"
queue=("$tmp/out/sbin/haproxy")
while [ ${#queue[@]} -gt 0 ]; do
  file=${queue[0]}; queue=("${queue[@]:1}")
  for lib in $(patchelf --print-needed "$file"); do
    [ -e "$tmp/out/lib/$lib" ] && continue
    [ -e "$libdir/$lib" ] || die "haproxy $want: $lib (needed by $(basename "$file")) is not in the $HAPROXY_30_SUITE root filesystem"
    cp -L "$libdir/$lib" "$tmp/out/lib/$lib"
    queue+=("$tmp/out/lib/$lib")
  done
done
# glibc loads libgcc_s by itself (thread cancellation, backtraces); keep it beside the others.
[ -e "$tmp/out/lib/libgcc_s.so.1" ] || cp -L "$libdir/libgcc_s.so.1" "$tmp/out/lib/"
patchelf --set-interpreter "$dest/lib/$loader" --force-rpath --set-rpath '$ORIGIN/../lib' "$tmp/out/sbin/haproxy"
echo "$pkg_version" > "$tmp/out/DEBIAN_VERSION"

# Before the rename the interpreter path does not exist yet: run it through the loader explicitly.
got=$(full_version "$tmp/out/lib/$loader" "$tmp/out/sbin/haproxy" || true)
[ "$got" = "$pkg_version" ] || die "haproxy $want: the extracted binary does not run on this host (it answered '${got:-nothing}'); see $tmp/out"
rm -rf "$dest"
mv "$tmp/out" "$dest"
got=$(full_version "$dest/sbin/haproxy" || true)
if [ "$(upstream "$got")" != "$want" ]; then
  rm -rf "$dest"
  die "haproxy $want: the installed binary answers '${got:-nothing}', not the pinned $want"
fi
say "haproxy $want: installed ($got, $(du -sh "$dest" | cut -f1)) at $dest"
echo "$dest/sbin/haproxy"
