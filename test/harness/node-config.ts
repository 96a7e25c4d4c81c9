/**
 * Configuration files of the real node (containerd, CNI, kubelet, kube-proxy): pure functions of the
 * node's directories and addresses, so every setting and the reason for it are readable in one place.
 * docs: https://kubernetes.io/docs/reference/config-api/kubelet-config.v1beta1/ ,
 * https://github.com/containerd/containerd/blob/release/1.6/docs/cri/config.md
 */
import { stringify } from 'yaml';

/** Where one node keeps everything it writes; all under one temporary directory. */
export interface NodeDirs {
  readonly root: string;
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly containerdSocket: string;
  readonly cniConfDir: string;
  readonly cniDataDir: string;
  readonly kubeletRoot: string;
  readonly podLogs: string;
  readonly volumePlugins: string;
}

/** The node's network: its own address, the pods' subnet, the cluster DNS Service address. */
export interface NodeNetwork {
  readonly nodeName: string;
  readonly nodeIp: string;
  readonly podSubnet: string;
  readonly podGateway: string;
  readonly clusterCidr: string;
  readonly clusterDns: string;
}

/** Host facts that change what the node may ask of the kernel (see docs/design.md, "The real node"). */
export interface HostTraits {
  /** cgroup v1 hierarchies (kubelet 1.34 refuses v1 unless told otherwise). */
  readonly cgroupV1: boolean;
  /** Lowering oom_score_adj (CAP_SYS_RESOURCE) is refused here: containerd must not ask runc to. */
  readonly restrictOomScoreAdj: boolean;
}

export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';

/** containerd 1.6 (config version 2), everything under the node's directories, cgroupfs driver. */
export function containerdConfig(dirs: NodeDirs, host: HostTraits): string {
  return `version = 2
root = "${dirs.containerdRoot}"
state = "${dirs.containerdState}"
# Snapshotters this host cannot use would only log errors at every start.
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "${dirs.containerdSocket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "${dirs.root}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # Without CAP_SYS_RESOURCE, runc cannot set the oom_score_adj of -998 the CRI asks for the sandbox.
  restrict_oom_score_adj = ${host.restrictOomScoreAdj}
  # Network namespaces of pods under the node's state dir, not /var/run/netns of the host.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${dirs.cniConfDir}"
`;
}

/**
 * CNI: one bridge with the pods' subnet. `hairpinMode` lets a pod reach itself through a Service;
 * `ipMasq` is harmless here (nothing leaves the lab) and is what a real bridge network does.
 */
export function cniConfig(dirs: NodeDirs, net: NodeNetwork): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'hps-pods',
      plugins: [
        {
          type: 'bridge',
          bridge: 'hps-cni0',
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: dirs.cniDataDir,
            ranges: [[{ subnet: net.podSubnet, gateway: net.podGateway }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

/** The kubelet's ports, chosen free by the caller. */
export interface KubeletPorts {
  readonly port: number;
  readonly healthz: number;
}

/** KubeletConfiguration for a lab node. */
export function kubeletConfig(
  dirs: NodeDirs,
  net: NodeNetwork,
  host: HostTraits,
  ports: KubeletPorts,
  files: { clientCaFile: string; resolvConf: string; cgroupRoot: string },
): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    containerRuntimeEndpoint: `unix://${dirs.containerdSocket}`,
    cgroupDriver: 'cgroupfs',
    // Every cgroup of this node under one parent of its own, removed at stop.
    cgroupRoot: files.cgroupRoot,
    failCgroupV1: !host.cgroupV1,
    failSwapOn: false,
    address: net.nodeIp,
    port: ports.port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: ports.healthz,
    // Only the apiserver (and the admin) hold certificates of the lab CA; nothing else reaches the lab.
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: false },
      x509: { clientCAFile: files.clientCaFile },
    },
    authorization: { mode: 'AlwaysAllow' },
    clusterDomain: 'cluster.local',
    clusterDNS: [net.clusterDns],
    resolvConf: files.resolvConf,
    podLogsDir: dirs.podLogs,
    volumePluginDir: dirs.volumePlugins,
    // No registry is reachable: an image collected as garbage could never come back.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // The lab's disk and memory belong to the machine, not to this node: never evict test pods.
    evictionHard: {
      'memory.available': '0%',
      'nodefs.available': '0%',
      'imagefs.available': '0%',
      'nodefs.inodesFree': '0%',
    },
    // Probes and status reach the apiserver sooner (defaults are tuned for thousands of nodes).
    nodeStatusUpdateFrequency: '4s',
    nodeStatusReportFrequency: '10s',
    syncFrequency: '10s',
    fileCheckFrequency: '5s',
    serializeImagePulls: false,
    maxPods: 110,
    protectKernelDefaults: false,
    // Pods are deleted at once when the test ends; the shutdown manager needs systemd-logind.
    shutdownGracePeriod: '0s',
  });
}

/** KubeProxyConfiguration: iptables mode inside the lab network namespace. */
export function kubeProxyConfig(
  kubeconfig: string,
  net: NodeNetwork,
  ports: { healthz: number; metrics: number },
): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig },
    mode: 'iptables',
    hostnameOverride: net.nodeName,
    clusterCIDR: net.clusterCidr,
    healthzBindAddress: `127.0.0.1:${ports.healthz}`,
    metricsBindAddress: `127.0.0.1:${ports.metrics}`,
    // A pod reaching a Service backed by a pod on the same bridge: without SNAT the reply would skip
    // the DNAT on its way back.
    iptables: { masqueradeAll: true, syncPeriod: '5s', minSyncPeriod: '0s' },
    // The conntrack table size is the machine's, not the lab's to change.
    conntrack: { maxPerCore: 0, min: 0 },
  });
}
