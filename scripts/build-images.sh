#!/usr/bin/env bash
# Builds the container images the node runs, without Docker and without a registry (none is reachable),
# as OCI archives in $HPS_CACHE/images, and lists them in $HPS_CACHE/images/index.txt
# (`<archive> <image name>` per line) for `ctr -n k8s.io images import`. Names are exactly the ones pods
# reference. Definitions live in scripts/images/; versions in scripts/versions.env.
#
#   ghcr.io/haproxy-peer-sync/haproxy-peer-sync:<package.json version>  the project's Dockerfile, on:
#   docker.io/library/node:<NODE_VERSION>-bookworm-slim     built here, kept in buildah's storage only
#   docker.io/library/haproxy:2.6, :3.0     Debian's haproxy (bookworm, trixie), shaped like the official
#   docker.io/traefik/whoami:<WHOAMI_VERSION>    a look-alike (scripts/images/whoami/main.go says why)
#   registry.k8s.io/coredns/coredns:<COREDNS_VERSION>   from CoreDNS' Go module
#   registry.k8s.io/pause:<PAUSE_VERSION>                a static C program
#
# Each image is rebuilt only when its inputs change: a stamp beside each archive holds a hash of them
# (its definition files, versions, sources, root filesystem, and the code of the function that builds
# it), so a warm run does no buildah work at all. Each image is built under a temporary name and written
# to a temporary archive, and takes its real name only when everything succeeded.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$HPS_ROOT/scripts/images/buildah-env.sh"
shopt -s extglob

DEFS="$HPS_ROOT/scripts/images"
OUT="$HPS_CACHE/images"
BIN_CACHE="$OUT/bin"              # binaries built for the images (CoreDNS takes minutes: kept)
WORK="$BUILDAH_DIR/work"          # build contexts, emptied at every run

OURS_VERSION=$(sed -n '/^  "version": /{s/^  "version": "\([^"]*\)",*$/\1/p;q}' "$HPS_ROOT/package.json")
[ -n "$OURS_VERSION" ] || die "images: no version in package.json"
NODE_BASE_IMAGE="docker.io/library/node:$NODE_VERSION-bookworm-slim"
OURS_IMAGE="ghcr.io/haproxy-peer-sync/haproxy-peer-sync:$OURS_VERSION"
HAPROXY_26_IMAGE="docker.io/library/haproxy:2.6"
HAPROXY_30_IMAGE="docker.io/library/haproxy:${HAPROXY_30_VERSION%.*}"
WHOAMI_IMAGE="docker.io/traefik/whoami:$WHOAMI_VERSION"
COREDNS_IMAGE="registry.k8s.io/coredns/coredns:$COREDNS_VERSION"
PAUSE_IMAGE="registry.k8s.io/pause:$PAUSE_VERSION"
# The host's CA bundle, trusted by `npm ci` inside the build only (outbound TLS may be re-signed by a CA
# that only this bundle holds); never copied into an image.
BUILD_CA_BUNDLE="${HPS_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

# ---------------------------------------------------------------------------------------------------
# Inputs and stamps

# A hash of image inputs: files and directories (content and path relative to the checkout, so another
# clone of the project shares the cache) and words (=text: versions, code, identities).
inputs_hash() {
  local a
  (
    cd "$HPS_ROOT"
    for a in "$@"; do
      case "$a" in
        =*) printf 'word %s\n' "${a#=}" ;;
        *) if [ -d "$a" ]; then find "$a" -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
           elif [ -f "$a" ]; then sha256sum "$a"
           else echo "setup: error: image input $a is missing" >&2; exit 1; fi ;;
      esac
    done
  ) | sha256sum | cut -d' ' -f1
}

# The code of the given shell functions, so editing how an image is built rebuilds it (declare -f prints
# them without comments: a comment edit does not).
code_of() { printf '=%s' "$(declare -f "$@")"; }

# A root filesystem's identity without reading 100 MB: its recipe, size and modification time.
rootfs_id() { printf '=%s %s' "$(cat "$1.recipe" 2>/dev/null)" "$(stat -c '%s %Y' "$1")"; }

# The build-context files the Dockerfile's COPY lines take, less what .dockerignore leaves out: a test
# or fixture edit does not rebuild the product image. .dockerignore patterns become bash extglobs (* and
# ? stay within a path segment, ** crosses them); where the translation could leave out a file Docker
# would send (a ! exception), nothing is left out: hashing too much only costs a rebuild.
dockerfile_inputs() {
  local srcs=() pats=() line p f skip
  mapfile -t srcs < <(awk 'toupper($1) == "COPY" && $2 !~ /^--from/ { for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i }' "$HPS_ROOT/Dockerfile")
  [ ${#srcs[@]} -gt 0 ] || die "images: no COPY sources found in $HPS_ROOT/Dockerfile"
  if [ -f "$HPS_ROOT/.dockerignore" ] && ! grep -q '^[[:space:]]*!' "$HPS_ROOT/.dockerignore"; then
    while IFS= read -r line; do
      line="${line%%#*}"; line="${line##+([[:space:]])}"; line="${line%%+([[:space:]])}"
      line="${line#/}"; line="${line%/}"
      [ -n "$line" ] || continue
      p="${line//\*\*/$'\001'}"; p="${p//\*/'*([!/])'}"; p="${p//\?/'[!/]'}"; p="${p//$'\001'/*}"
      pats+=("$p")
    done <"$HPS_ROOT/.dockerignore"
  fi
  (cd "$HPS_ROOT" && find "${srcs[@]}" -type f | LC_ALL=C sort) | while IFS= read -r f; do
    skip=0
    for p in "${pats[@]}"; do
      # shellcheck disable=SC2053 # the pattern is meant to match as a glob
      if [[ $f == $p || $f == $p/* ]]; then skip=1; break; fi
    done
    [ "$skip" = 1 ] || echo "$f"
  done
}

fresh() { # archive-file hash
  [ -s "$OUT/$1" ] && [ "$(cat "$OUT/$1.stamp" 2>/dev/null)" = "$2" ]
}

# ---------------------------------------------------------------------------------------------------
# Building (inside the private mount namespace)

# Hard links (a copy across file systems) of inputs into a fresh build context: buildah reads COPY and
# ADD sources from the context only.
context() { # name -> path
  local dir="$WORK/$1"
  rm -rf "$dir"; mkdir -p "$dir"; echo "$dir"
}
link_in() { cp -al "$1" "$2" 2>/dev/null || cp -a "$1" "$2"; }

# Builds <containerfile> in <context> under a temporary name, then names it <image>; with an archive
# file name, also writes it as an OCI archive (temporary file, renamed) and its stamp.
# --network host: buildah's default network would create a bridge and iptables chains in the host's
# namespaces. --pull=never: no registry; every FROM is an image built here.
build_image() { # image archive-file|"" hash context containerfile [bud args...]
  local image=$1 archive=$2 hash=$3 ctx=$4 file=$5; shift 5
  local short; short=$(basename "${image%:*}")
  local tmp="localhost/hps-build/$short:build-$$" log="$BUILDAH_DIR/$short.log"
  say "images: building $image"
  bah bud --network host "${BUILDAH_RUNC_FLAGS[@]}" --pull=never --layers=false --format oci \
    -f "$file" -t "$tmp" "$@" "$ctx" >"$log" 2>&1 \
    || { tail -n 40 "$log" >&2; die "images: building $image failed (full log: $log)"; }
  if [ -n "$archive" ]; then
    rm -f "$OUT/.$archive.tmp"
    bah push --quiet "$tmp" "oci-archive:$OUT/.$archive.tmp:$image" >/dev/null \
      || die "images: writing the archive of $image failed"
    mv -f "$OUT/.$archive.tmp" "$OUT/$archive"
    echo "$hash" >"$OUT/$archive.stamp"
  fi
  bah tag "$tmp" "$image" >/dev/null
  bah rmi "$tmp" >/dev/null   # only the temporary name: the image keeps its real one
}

build_node_base() { # hash rootfs
  local ctx; ctx=$(context node-base)
  link_in "$DEFS/node-base/Containerfile" "$ctx/"
  link_in "$2" "$ctx/rootfs.tar"
  mkdir -p "$ctx/node/bin" "$ctx/node/include" "$ctx/node/lib/node_modules"
  link_in "$HPS_NODE_DIR/bin/node" "$ctx/node/bin/"
  link_in "$HPS_NODE_DIR/include/node" "$ctx/node/include/"
  link_in "$HPS_NODE_DIR/lib/node_modules/npm" "$ctx/node/lib/node_modules/"
  build_image "$NODE_BASE_IMAGE" "" "$1" "$ctx" "$ctx/Containerfile" --build-arg "NODE_VERSION=$NODE_VERSION"
  echo "$1" >"$OUT/node-base.stamp"
  rm -rf "$ctx"
}

build_ours() { # hash archive
  local ca=()
  if [ -r "$BUILD_CA_BUNDLE" ]; then
    ca=(--volume "$BUILD_CA_BUNDLE:/run/hps-build-ca.pem:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/hps-build-ca.pem)
  fi
  # The project's own Dockerfile and context (.dockerignore applies), as a user would `docker build` it.
  build_image "$OURS_IMAGE" "$2" "$1" "$HPS_ROOT" "$HPS_ROOT/Dockerfile" --build-arg "VERSION=$OURS_VERSION" "${ca[@]}"
}

build_haproxy() { # image archive hash rootfs
  local ctx pkgver; ctx=$(context "haproxy-${1##*:}")
  cp -a "$DEFS/haproxy/." "$ctx/"
  chmod 0755 "$ctx/docker-entrypoint.sh"
  link_in "$4" "$ctx/rootfs.tar"
  pkgver=$(tar -xOf "$4" ./var/lib/dpkg/status | awk '/^Package: haproxy$/ { p = 1 } p && /^Version:/ && !v { v = $2 } END { print v }')
  [[ "$pkgver" == "${1##*:}".* ]] || die "images: $1 would hold Debian's haproxy $pkgver, not ${1##*:}.x"
  build_image "$1" "$2" "$3" "$ctx" "$ctx/Containerfile" --build-arg "HAPROXY_VERSION=${pkgver%%-*}"
  rm -rf "$ctx"
}

# Go programs: static (CGO_ENABLED=0), with this machine's Go (GOTOOLCHAIN=local), modules through the
# Go module proxy, as scripts/build-go-binaries.sh builds the control plane.
go_env() { env GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod "$@"; }

build_whoami_binary() { # -> $WORK/bin/whoami
  (cd "$DEFS/whoami" && go_env go build -trimpath -ldflags "-s -w" -o "$WORK/bin/whoami" .) \
    || die "images: building the whoami look-alike failed"
}

build_coredns_binary() { # -> $BIN_CACHE/coredns-<version>, kept across runs
  local out="$BIN_CACHE/coredns-$COREDNS_VERSION"
  [ -x "$out" ] && return 0
  rm -rf "$WORK/coredns-gobin"
  say "images: building CoreDNS $COREDNS_VERSION from its Go module (several minutes on 2 cores)"
  # CoreDNS' own main package with its default plugin set (plugin.cfg), installed straight from the
  # module: it has no replace directives.
  go_env GOBIN="$WORK/coredns-gobin" go install -trimpath \
      -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" \
      "github.com/coredns/coredns@$COREDNS_VERSION" >"$WORK/coredns-go.log" 2>&1 \
    || { tail -n 30 "$WORK/coredns-go.log" >&2; die "images: building CoreDNS $COREDNS_VERSION failed (is the Go module proxy reachable?)"; }
  mv -f "$WORK/coredns-gobin/coredns" "$out"
}

build_pause_binary() { # -> $WORK/bin/pause
  gcc -static -Os -s -Wall -Wextra -Werror -DPAUSE_VERSION="\"$PAUSE_VERSION\"" \
      -o "$WORK/bin/pause" "$DEFS/pause/pause.c" \
    || die "images: compiling pause.c failed (needs gcc and the static C library: libc6-dev)"
}

build_binaries() { # image ids (whoami, coredns, pause)...
  mkdir -p "$WORK/bin" "$BIN_CACHE"
  local b
  for b in "$@"; do "build_${b}_binary"; done
}

build_from_binary() { # image archive hash name binary
  local ctx; ctx=$(context "$4")
  link_in "$DEFS/$4/Containerfile" "$ctx/"
  cp "$5" "$ctx/$4"
  # CoreDNS runs as non-root and binds port 53 through this file capability, as upstream's image does.
  if [ "$4" = coredns ]; then setcap cap_net_bind_service=+ep "$ctx/coredns" || die "images: setcap failed (libcap2-bin)"; fi
  build_image "$1" "$2" "$3" "$ctx" "$ctx/Containerfile"
  rm -rf "$ctx"
}

# ---------------------------------------------------------------------------------------------------

for tool in buildah mmdebstrap go gcc setcap flock unshare; do
  command -v "$tool" >/dev/null || die "images: $tool is missing (Debian packages: buildah mmdebstrap golang gcc libc6-dev libcap2-bin util-linux)"
done
[ -x "$HPS_NODE_DIR/bin/node" ] || die "images: Node $NODE_VERSION is not unpacked in $HPS_NODE_DIR (scripts/setup.sh does it first)"
mkdir -p "$OUT"
[ "${HPS_BUILDAH_NS:-}" = "$$" ] || lock_buildah_storage
# Everything below runs in a private mount namespace (this script, re-executed once): cheap, and no
# mount of a build can outlive it.
enter_private_mount_ns "$@"

A_OURS="haproxy-peer-sync-$OURS_VERSION.tar"
A_26="haproxy-2.6.tar"
A_30="haproxy-${HAPROXY_30_IMAGE##*:}.tar"
A_WHOAMI="whoami-$WHOAMI_VERSION.tar"
A_COREDNS="coredns-$COREDNS_VERSION.tar"
A_PAUSE="pause-$PAUSE_VERSION.tar"

write_index() {
  {
    printf '%s %s\n' "$OUT/$A_OURS" "$OURS_IMAGE" "$OUT/$A_26" "$HAPROXY_26_IMAGE" "$OUT/$A_30" "$HAPROXY_30_IMAGE" \
      "$OUT/$A_WHOAMI" "$WHOAMI_IMAGE" "$OUT/$A_COREDNS" "$COREDNS_IMAGE" "$OUT/$A_PAUSE" "$PAUSE_IMAGE"
  } >"$OUT/.index.txt.tmp"
  mv -f "$OUT/.index.txt.tmp" "$OUT/index.txt"
}
stale=()
is_stale() { [[ " ${stale[*]} " == *" $1 "* ]]; }

# Whatever happens: no background build, working container (and so no layer mount), temporary image
# name or temporary file stays behind.
bg_pids=()
cleanup() {
  local pid
  for pid in "${bg_pids[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  done
  if [ -n "${BUILDAH_READY:-}" ]; then
    bah rm --all >/dev/null 2>&1 || true
    # Temporary names of builds that did not finish (this run's or an interrupted earlier one's).
    bah images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep '^localhost/hps-build/' | xargs -r buildah \
      --root "$BUILDAH_ROOT" --runroot "$BUILDAH_RUNROOT" --storage-driver "$BUILDAH_DRIVER" rmi >/dev/null 2>&1 || true
    # Earlier builds of the same names are unnamed now: drop them and their layers.
    bah rmi --prune >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK" "$TMPDIR"
  leave_private_mount_ns
}
trap cleanup EXIT
# A signal ends the script through exit, so the cleanup above runs.
trap 'exit 130' INT
trap 'exit 143' TERM HUP
rm -rf "$WORK" "$TMPDIR"; mkdir -p "$WORK" "$TMPDIR"

# First the images made from programs: their builds (CoreDNS: minutes of CPU) start in the background
# at once, while the root filesystems (network and disk) are made.
common_code=$(code_of build_image context link_in)
from_binary_code=$(code_of build_from_binary go_env)
H_WHOAMI=$(inputs_hash scripts/images/whoami "=$WHOAMI_IMAGE $(go env GOVERSION)" "$common_code" "$from_binary_code" "$(code_of build_whoami_binary)")
H_COREDNS=$(inputs_hash scripts/images/coredns "=$COREDNS_IMAGE" "$common_code" "$from_binary_code" "$(code_of build_coredns_binary)")
H_PAUSE=$(inputs_hash scripts/images/pause "=$PAUSE_IMAGE $(gcc -dumpfullversion)" "$common_code" "$from_binary_code" "$(code_of build_pause_binary)")
fresh "$A_WHOAMI" "$H_WHOAMI" || stale+=(whoami)
fresh "$A_COREDNS" "$H_COREDNS" || stale+=(coredns)
fresh "$A_PAUSE" "$H_PAUSE" || stale+=(pause)
if [ ${#stale[@]} -gt 0 ]; then
  build_binaries "${stale[@]}" &
  bin_pid=$!; bg_pids+=("$bin_pid")
fi

# The root filesystems (scripts/rootfs.sh: made on the first run, in parallel; cached after).
rootfs_bg() { bash "$HPS_ROOT/scripts/rootfs.sh" "$@" >"$WORK/rootfs-$1-$#" & bg_pids+=($!); }
rootfs_bg bookworm
rootfs_bg "$HAPROXY_26_SUITE" haproxy
rootfs_bg "$HAPROXY_30_SUITE" haproxy
for pid in "${bg_pids[@]}"; do
  [ "$pid" = "${bin_pid:-}" ] && continue
  wait "$pid" || die "images: making a root filesystem failed (see above)"
done
ROOTFS_BASE=$(cat "$WORK/rootfs-bookworm-1")
ROOTFS_26=$(cat "$WORK/rootfs-$HAPROXY_26_SUITE-2")
ROOTFS_30=$(cat "$WORK/rootfs-$HAPROXY_30_SUITE-2")
bg_pids=(${bin_pid:+"$bin_pid"})

H_BASE=$(inputs_hash scripts/images/node-base "=$NODE_BASE_IMAGE $NPM_VERSION" "$(rootfs_id "$ROOTFS_BASE")" \
  "=$(stat -c '%s %Y' "$HPS_NODE_DIR/bin/node" "$HPS_NODE_DIR/lib/node_modules/npm/package.json")" \
  "$common_code" "$(code_of build_node_base)")
mapfile -t ours_files < <(dockerfile_inputs)
H_OURS=$(inputs_hash Dockerfile .dockerignore "${ours_files[@]}" "=$OURS_IMAGE $H_BASE" "$common_code" "$(code_of build_ours)")
H_26=$(inputs_hash scripts/images/haproxy "=$HAPROXY_26_IMAGE" "$(rootfs_id "$ROOTFS_26")" "$common_code" "$(code_of build_haproxy)")
H_30=$(inputs_hash scripts/images/haproxy "=$HAPROXY_30_IMAGE" "$(rootfs_id "$ROOTFS_30")" "$common_code" "$(code_of build_haproxy)")
fresh "$A_OURS" "$H_OURS" || stale+=(ours)
fresh "$A_26" "$H_26" || stale+=(haproxy-2.6)
fresh "$A_30" "$H_30" || stale+=(haproxy-3.0)

if [ ${#stale[@]} -eq 0 ]; then
  write_index
  say "images: cached ($OUT/index.txt)"
  exit 0
fi
say "images: to build: ${stale[*]}"
prepare_buildah
BUILDAH_READY=1

if is_stale ours; then
  if [ "$(cat "$OUT/node-base.stamp" 2>/dev/null)" != "$H_BASE" ] \
    || ! bah inspect --type image "$NODE_BASE_IMAGE" >/dev/null 2>&1; then
    build_node_base "$H_BASE" "$ROOTFS_BASE"
  fi
  build_ours "$H_OURS" "$A_OURS"
fi
is_stale haproxy-2.6 && build_haproxy "$HAPROXY_26_IMAGE" "$A_26" "$H_26" "$ROOTFS_26"
is_stale haproxy-3.0 && build_haproxy "$HAPROXY_30_IMAGE" "$A_30" "$H_30" "$ROOTFS_30"

if [ -n "${bin_pid:-}" ]; then
  wait "$bin_pid" || { bg_pids=(); die "images: building the Go and C programs failed"; }
  bg_pids=()
fi
is_stale whoami && build_from_binary "$WHOAMI_IMAGE" "$A_WHOAMI" "$H_WHOAMI" whoami "$WORK/bin/whoami"
is_stale coredns && build_from_binary "$COREDNS_IMAGE" "$A_COREDNS" "$H_COREDNS" coredns "$BIN_CACHE/coredns-$COREDNS_VERSION"
is_stale pause && build_from_binary "$PAUSE_IMAGE" "$A_PAUSE" "$H_PAUSE" pause "$WORK/bin/pause"

write_index
say "images: ready ($OUT/index.txt)"
