# Sourced after scripts/lib.sh by scripts/build-images.sh and scripts/images/buildah.sh: buildah with the
# project's own storage, configuration and temporary files, so nothing lands in the host's
# /var/lib/containers, /run/containers or /var/tmp.
#
# Every buildah call happens inside a private mount namespace (enter_private_mount_ns): the overlay
# mounts of image layers, the bind mount containers/storage puts on its own directory, and the tmpfs
# that holds buildah's run state all vanish with the namespace, even if the build is killed. A fresh
# run-state tmpfs each time also means no stale "layer is mounted" records survive a crash.

BUILDAH_DIR="$HPS_CACHE/buildah"
BUILDAH_ROOT="$BUILDAH_DIR/storage"
BUILDAH_RUNROOT="$BUILDAH_DIR/run"
export TMPDIR="$BUILDAH_DIR/tmp"
export CONTAINERS_REGISTRIES_CONF="$HPS_ROOT/scripts/images/registries.conf"

# overlay is fast and small; it cannot sit on an overlay filesystem (a cache inside a container), vfs can.
if [ "$(stat -f -c %T "$HPS_CACHE" 2>/dev/null)" = overlayfs ]; then BUILDAH_DRIVER=vfs; else BUILDAH_DRIVER=overlay; fi

bah() { buildah --root "$BUILDAH_ROOT" --runroot "$BUILDAH_RUNROOT" --storage-driver "$BUILDAH_DRIVER" "$@"; }
# For `buildah bud`: runc keeps its container state in our run-state tmpfs instead of /run/runc.
BUILDAH_RUNC_FLAGS=(--runtime-flag "root=$BUILDAH_RUNROOT/runc")

# Holds the lock that serialises every use of the project's buildah storage (fd 8; inherited by the
# re-executed script below, so it is held throughout).
lock_buildah_storage() {
  mkdir -p "$BUILDAH_DIR"
  exec 8>"$BUILDAH_DIR/.lock"
  flock -n 8 || { say "images: waiting for another build of the images to finish"; flock 8; }
}

# Re-executes the calling script ("$0" "$@") in a private mount namespace, once. Needs root (buildah's
# rootful storage, mmdebstrap; setup runs as root).
enter_private_mount_ns() {
  [ "${HPS_BUILDAH_NS:-}" = "$$" ] && return 0
  [ "$(id -u)" = 0 ] || die "building images needs root (buildah's storage and mmdebstrap)"
  command -v unshare >/dev/null || die "unshare is missing: apt-get install util-linux"
  # exec keeps the PID, so the re-executed script recognises itself by HPS_BUILDAH_NS=$$.
  exec env HPS_BUILDAH_NS=$$ unshare --mount --propagation private -- bash "$0" "$@"
}

# In the private mount namespace, before the first buildah call: the tmpfs for buildah's run state, and
# our own directory over /var/lib/containers.
prepare_buildah() {
  [ "${HPS_BUILDAH_NS:-}" = "$$" ] || die "prepare_buildah: not in the private mount namespace"
  mkdir -p "$BUILDAH_ROOT" "$BUILDAH_RUNROOT" "$TMPDIR" "$BUILDAH_DIR/blob-info-cache"
  mount -t tmpfs -o mode=0700,size=64m hps-buildah-run "$BUILDAH_RUNROOT" || die "could not mount a tmpfs on $BUILDAH_RUNROOT"
  # containers/image keeps a blob-info cache at a fixed path for root, /var/lib/containers/cache, with no
  # option to move it in this buildah: our own directory is mounted there, in this namespace only (over
  # any real one, which stays untouched). A mount point we had to create is removed on the way out.
  HPS_CREATED_VAR_LIB_CONTAINERS=
  if [ ! -e /var/lib/containers ]; then mkdir /var/lib/containers; HPS_CREATED_VAR_LIB_CONTAINERS=1; fi
  mount --bind "$BUILDAH_DIR/blob-info-cache" /var/lib/containers || die "could not bind-mount over /var/lib/containers"
}

# Undoes what prepare_buildah changed that is visible outside the namespace (call on exit).
leave_private_mount_ns() {
  [ "${HPS_BUILDAH_NS:-}" = "$$" ] || return 0
  if [ -n "${HPS_CREATED_VAR_LIB_CONTAINERS:-}" ]; then
    umount /var/lib/containers 2>/dev/null || true
    rmdir /var/lib/containers 2>/dev/null || true
  fi
}
