/**
 * Helpers of the end-to-end tests (test/e2e-*.test.ts): the example of examples/ on a sandbox, waiting
 * for the replica set to converge, and reading what each replica really holds (stick-table keys, peers).
 * Everything is read the way a user would check it: the apiserver, HAProxy's master CLI, the files on
 * the shared volume — never the syncer's own idea of its state.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { converged } from '../../demo/screen.ts';
import { waitFor } from './processes.ts';
import {
  EXAMPLE_NAMESPACE,
  EXAMPLE_SELECTOR,
  EXAMPLE_TABLE,
  REPO_ROOT,
  RUNTIME_VOLUME,
  type ReplicaState,
  type Sandbox,
} from './sandbox.ts';

const run = promisify(execFile);

export const NS = EXAMPLE_NAMESPACE;
/** Names the webhook gives what it injects (webhook/annotations.ts NAMES). */
export const SYNCER = 'haproxy-peer-sync';
export const SYNCER_INIT = 'haproxy-peer-sync-init';
/** Generous: on 2 shared cores other engineers' tests may run at the same time. */
export const STEP_TIMEOUT_MS = 360_000;

/**
 * kubectl with stderr kept, as Sandbox.kubectl drops it on success: warnings (deprecated fields, unknown
 * fields under lax validation) go there, and "applies cleanly" means none.
 */
export async function kubectlWithStderr(s: Sandbox, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const bin = join(process.env.HPS_BIN ?? join(process.env.HOME ?? '', '.cache/haproxy-peer-sync/bin'), 'kubectl');
  return run(bin, ['--kubeconfig', s.controlPlane.kubeconfigPath, ...args], { cwd: REPO_ROOT, maxBuffer: 16 << 20 });
}

/**
 * Installs the webhook from deploy/, applies examples/ (with `haproxyImage` for the labelled HAProxy
 * Deployment when given) and waits for the 3 replicas to converge.
 */
export async function bringUpExample(s: Sandbox, haproxyImage?: string): Promise<ReplicaState[]> {
  await s.installWebhook();
  await s.applyExamples(haproxyImage);
  return waitConverged(s, 3, 'the example after apply');
}

export function podReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** The example's HAProxy pods as the apiserver lists them (terminating ones included). */
export async function haproxyPods(s: Sandbox): Promise<V1Pod[]> {
  const core = s.controlPlane.kubeConfig.makeApiClient(k8s.CoreV1Api);
  return (await core.listNamespacedPod({ namespace: NS, labelSelector: EXAMPLE_SELECTOR })).items;
}

/** `kubectl get pods -o wide` and every replica's state, appended to failure messages. */
export async function describeExample(s: Sandbox): Promise<string> {
  const pods = await s.kubectl('get', 'pods', '-n', NS, '-o', 'wide').catch((e: unknown) => String(e));
  const replicas = await s.replicas().catch(() => []);
  const rows = replicas.map(
    (r) =>
      `${r.pod} ready=${r.ready} terminating=${r.terminating} entries=${r.tableEntries} ` +
      `peers=${
        r.peers
          ?.filter((p) => !p.local)
          .map((p) => `${p.name}:${p.status}`)
          .join(',') ?? '-'
      }`,
  );
  return `${pods}\n${rows.join('\n')}\n(logs: ${join(s.dir, 'logs')})`;
}

/**
 * Waits until the Deployment has rolled out `n` replicas (all updated and ready) and the live HAProxy
 * pods are exactly those `n`: none terminating, each Ready and listing every other one as ESTA (and no
 * one else). Returns their states; on timeout the error carries the cluster's view.
 */
export async function waitConverged(
  s: Sandbox,
  n: number,
  what: string,
  timeoutMs = STEP_TIMEOUT_MS,
): Promise<ReplicaState[]> {
  const apps = s.controlPlane.kubeConfig.makeApiClient(k8s.AppsV1Api);
  try {
    return await waitFor(
      async () => {
        const d = await apps.readNamespacedDeployment({ name: 'haproxy', namespace: NS });
        const st = d.status;
        if ((st?.observedGeneration ?? 0) < (d.metadata?.generation ?? 1)) return false;
        if (st?.replicas !== n || st.updatedReplicas !== n || st.readyReplicas !== n) return false;
        const replicas = await s.replicas();
        return replicas.length === n && replicas.every((r) => !r.terminating) && converged(replicas) ? replicas : false;
      },
      { what: `${what}: ${n} replicas ready, meshed, none terminating`, timeoutMs, intervalMs: 500 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await describeExample(s)}`, { cause: err });
  }
}

/**
 * Every container in the cluster (webhook, CoreDNS, the example's pods, injected ones included) that
 * restarted or was OOM-killed, as `namespace/pod/container: …`; empty when none did. The product's
 * containers must run within the limits it sets, through whole scenarios.
 */
export async function restartedContainers(
  s: Sandbox,
  except: (pod: V1Pod, container: string) => boolean = () => false,
): Promise<string[]> {
  const core = s.controlPlane.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const out: string[] = [];
  for (const pod of (await core.listPodForAllNamespaces()).items) {
    for (const c of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      if (except(pod, c.name)) continue;
      const last = c.lastState?.terminated ?? c.state?.terminated;
      const oom = last?.reason === 'OOMKilled';
      if (c.restartCount > 0 || oom) {
        out.push(
          `${pod.metadata?.namespace}/${pod.metadata?.name}/${c.name}: ${c.restartCount} restart(s), last ${last?.reason ?? '-'} (exit ${last?.exitCode ?? '-'})`,
        );
      }
    }
  }
  return out;
}

/** Writes keys into the example's table on one replica through its master CLI, 100 per line. */
export async function setEntries(s: Sandbox, pod: string, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 100) {
    const line = keys
      .slice(i, i + 100)
      .map((k) => `@1 set table ${EXAMPLE_TABLE} key ${k}`)
      .join('; ');
    const answer = await s.masterCli(NS, pod, line);
    // Each successful `set table` answers an empty line; anything else is HAProxy refusing.
    if (answer.trim() !== '') throw new Error(`set table on ${pod}: ${answer.trim()}`);
  }
}

/** Every key the example's table of one replica holds (`show table` dump). */
export async function tableKeys(s: Sandbox, pod: string): Promise<Set<string>> {
  const dump = await s.masterCli(NS, pod, `@1 show table ${EXAMPLE_TABLE}`);
  return new Set([...dump.matchAll(/\skey=(\S+)/g)].map((m) => m[1] ?? ''));
}

/** Per replica, the keys of `keys` it lacks (first few and how many); empty when every one holds all. */
export async function missingEntries(
  s: Sandbox,
  pods: readonly string[],
  keys: readonly string[],
): Promise<Record<string, string>> {
  const missing: Record<string, string> = {};
  for (const pod of pods) {
    const held = await tableKeys(s, pod);
    const lacks = keys.filter((k) => !held.has(k));
    if (lacks.length > 0)
      missing[pod] = `${lacks.length} of ${keys.length} missing, e.g. ${lacks.slice(0, 3).join(' ')}`;
  }
  return missing;
}

/** Waits (up to a minute) until every key is in the stick-table of every pod named. */
export async function waitEntriesEverywhere(
  s: Sandbox,
  pods: readonly string[],
  keys: readonly string[],
  what: string,
  intervalMs = 250,
): Promise<void> {
  await waitFor(async () => Object.keys(await missingEntries(s, pods, keys)).length === 0, {
    what,
    timeoutMs: 60_000,
    intervalMs,
  });
}

/** The `peer <name> <ip>:<port>` lines of a replica's peers.cfg on the shared volume. */
export async function peersFile(s: Sandbox, pod: string): Promise<Map<string, string>> {
  const text = await readFile(join(await s.volumePath(NS, pod, RUNTIME_VOLUME), 'peers.cfg'), 'utf8');
  return new Map([...text.matchAll(/^\s*peer\s+(\S+)\s+(\S+):\d+\s*$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
}

/**
 * Every way a replica's peers differ from the live pods: a peer for a pod that is gone (or with a stale
 * address), a live pod missing, a link not ESTA — read both from HAProxy (`show peers`) and from the
 * peers file the syncer wrote. Empty when clean.
 */
export async function peerProblems(s: Sandbox, replicas: readonly ReplicaState[]): Promise<string[]> {
  const live = new Map(replicas.map((r) => [r.pod, r.ip]));
  const problems: string[] = [];
  for (const r of replicas) {
    const remotes = r.peers?.filter((p) => !p.local) ?? [];
    for (const p of remotes) {
      if (!live.has(p.name)) problems.push(`${r.pod}: show peers lists ${p.name}, which is gone`);
      else if (p.status !== 'ESTA') problems.push(`${r.pod}: link to ${p.name} is ${p.status}`);
    }
    for (const name of live.keys()) {
      if (name !== r.pod && !remotes.some((p) => p.name === name)) problems.push(`${r.pod}: show peers lacks ${name}`);
    }
    const file = await peersFile(s, r.pod);
    for (const [name, ip] of file) {
      if (live.get(name) !== ip)
        problems.push(`${r.pod}: peers.cfg has ${name} ${ip}, live: ${live.get(name) ?? 'gone'}`);
    }
    for (const name of live.keys()) if (!file.has(name)) problems.push(`${r.pod}: peers.cfg lacks ${name}`);
  }
  return problems;
}
