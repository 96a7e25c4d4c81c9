#!/usr/bin/env bash
# Runs a command inside the "lab": private network and mount namespaces of its own, so nothing the tests
# start (a Kubernetes node, its containers, bridges, iptables rules, mounts) is ever seen by the host, and
# everything vanishes with the command.
#
# Network: loopback; 10.244.0.0/16 made local to loopback (host-run HAProxy replicas bind addresses there:
# kube-apiserver refuses 127.0.0.0/8 in EndpointSlices); a veth pair giving the node an address and a
# default route (kubelet refuses to start without one; the kernel here has no `dummy` device type). Pods
# of the real node live on their bridge in 10.88.0.0/16, a range no host-run process uses.
# Mounts: fresh tmpfs over /run, /var/lib and /var/log, where kubelet, containerd and runc write to paths
# that cannot be moved (/var/lib/kubelet/device-plugins, /run/containerd/fifo, /var/log/containers …).
# This script waits outside for the lab to end, so its own network namespace (/proc/$HPS_LAB_ID/ns/net) is
# the host's: a relay can listen on the host's loopback from inside, and `kubectl` works from another
# terminal (test/harness/host-relay.ts).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if [ "${HPS_LAB_NETNS:-}" = 1 ]; then exec "$@"; fi
command -v unshare >/dev/null || die "unshare (util-linux) is missing"
command -v ip >/dev/null || die "ip (iproute2) is missing"
export HPS_LAB_NETNS=1 HPS_NODE_IP=172.31.255.2 HPS_LAB_ID=$$
# Cgroups are the one thing the namespaces cannot hide, and containers (with their shims) outlive a
# crashed node: a node names its cgroup parent after the lab (test/harness/node.ts), so whatever a
# crashed run left is killed and its cgroups removed here, deepest first.
remove_cgroups() {
  local d
  for d in /sys/fs/cgroup/hps-node-"$HPS_LAB_ID"-* /sys/fs/cgroup/*/hps-node-"$HPS_LAB_ID"-*; do
    [ -d "$d" ] || continue
    find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null
    pkill -9 -f "containerd-shim.*/var/lib/hps-node-$HPS_LAB_ID-" 2>/dev/null
    sleep 0.2
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  return 0
}
trap remove_cgroups EXIT
unshare --net --mount --propagation private -- bash -c '
  set -e
  ip link set lo up
  ip route add local 10.244.0.0/16 dev lo
  ip link add hps-node type veth peer name hps-uplink
  ip addr add "$HPS_NODE_IP/24" dev hps-node
  ip link set hps-node up
  ip link set hps-uplink up
  ip route add default via 172.31.255.1 dev hps-node onlink
  for d in /run /var/lib /var/log; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done
  exec "$@"' lab "$@"
