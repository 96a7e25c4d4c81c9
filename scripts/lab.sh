#!/usr/bin/env bash
# Runs a command inside a private network namespace of its own (the "lab"), where the pod network
# 10.244.0.0/16 is local to the loopback device. Pods need non-loopback addresses (kube-apiserver refuses
# 127.0.0.0/8 in EndpointSlices), and no traffic to a private range may leave this sandbox's own
# namespaces: inside the lab, 10.244.x.y exists only here and reaches nothing outside. The namespace
# vanishes with the command, taking every address and route with it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if [ "${HPS_LAB_NETNS:-}" = 1 ]; then exec "$@"; fi
command -v unshare >/dev/null || die "unshare (util-linux) is missing"
command -v ip >/dev/null || die "ip (iproute2) is missing"
export HPS_LAB_NETNS=1
exec unshare --net -- bash -c '
  set -e
  ip link set lo up
  ip route add local 10.244.0.0/16 dev lo
  exec "$@"' lab "$@"
