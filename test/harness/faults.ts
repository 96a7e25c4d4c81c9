/**
 * Helpers of the fault suite (test/e2e-faults*.test.ts): a steady stream of stick-table writes on
 * several replicas, the check that every entry written is on every live replica, and the faults
 * themselves (a pod's network cut in its own network namespace, a container's process stopped or killed).
 *
 * A replica's table is reached through HAProxy's master socket on the pod's shared volume, with the
 * volume's path read from the apiserver once: the writes and checks keep working while the apiserver is
 * down, which is one of the faults.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { socketCommand } from '../../syncer/haproxy-socket.ts';
import { CONTRACT_DEFAULTS } from '../../common/contract.ts';
import { waitFor } from './processes.ts';
import { RUNTIME_VOLUME, type Sandbox } from './sandbox.ts';

const run = promisify(execFile);

/** One replica's stick-table, written and read through its HAProxy master CLI (worker 1). */
export interface ReplicaTable {
  readonly pod: string;
  /** `set table` of each key; rejects when HAProxy refuses one or cannot be reached. */
  set(keys: readonly string[]): Promise<void>;
  /** Every key the table holds now. */
  keys(): Promise<Set<string>>;
  /** A master CLI command (e.g. `@1 show peers`). */
  cli(command: string): Promise<string>;
}

/**
 * The table `table` of pod `namespace/pod`. The master socket's path is resolved now (one apiserver read)
 * and reached from then on through a short symlink under the sandbox's directory: a UNIX socket path holds
 * at most 107 bytes, the kubelet's path to a volume is longer.
 */
export async function replicaTable(s: Sandbox, namespace: string, pod: string, table: string): Promise<ReplicaTable> {
  const volume = await s.volumePath(namespace, pod, RUNTIME_VOLUME);
  const links = join(s.dir, 'cli');
  mkdirSync(links, { recursive: true });
  const link = join(links, createHash('sha256').update(volume).digest('hex').slice(0, 12));
  if (!existsSync(link)) symlinkSync(volume, link);
  const cli = (command: string): Promise<string> => socketCommand(join(link, 'master.sock'), command, 5000);
  return {
    pod,
    cli,
    async set(keys) {
      for (let i = 0; i < keys.length; i += 100) {
        const part = keys.slice(i, i + 100);
        const last = part[part.length - 1] ?? '';
        // Each successful `set table` answers an empty line, and so does a connection the master closes
        // half-way (it re-executes itself on a reload): the last command reads the last key back, and
        // only an answer that has it proves the whole line ran.
        const answer = await cli(
          [...part.map((k) => `@1 set table ${table} key ${k}`), `@1 show table ${table} key ${last}`].join('; '),
        );
        const dump = answer.indexOf('# table:');
        if (dump < 0 || answer.slice(0, dump).trim() !== '' || !answer.includes(` key=${last} `)) {
          throw new Error(`set table on ${pod}: ${answer.trim() || 'no answer (connection closed)'}`);
        }
      }
    },
    async keys() {
      const dump = await cli(`@1 show table ${table}`);
      return new Set([...dump.matchAll(/\skey=(\S+)/g)].map((m) => m[1] ?? ''));
    },
  };
}

/** What a write stream did: the keys HAProxy accepted, and the writes that failed (fault in progress). */
export interface WriteResult {
  readonly written: readonly string[];
  /** When each key was accepted (epoch ms): the diagnosis of a loss sets them beside the syncers' logs. */
  readonly writtenAt: ReadonlyMap<string, number>;
  readonly failedWrites: number;
  readonly seconds: number;
}

export interface WriteStream {
  /** Keys accepted so far. */
  written(): number;
  /** Ends the stream after the writes in flight. */
  stop(): Promise<WriteResult>;
}

/**
 * Writes `batch` new keys on each replica every `gapMs`, all replicas at once, as clients of each replica
 * would create sessions. A key counts as written only once its replica accepted it; a write that fails
 * (the replica unreachable) is counted and the stream goes on. Keys are `<prefix>-<replica>-<n>`.
 */
export function startWrites(
  tables: readonly ReplicaTable[],
  prefix: string,
  opts: { batch?: number; gapMs?: number } = {},
): WriteStream {
  const { batch = 5, gapMs = 250 } = opts;
  const written: string[] = [];
  const writtenAt = new Map<string, number>();
  let failedWrites = 0;
  let stopping = false;
  const began = Date.now();
  const writer = async (t: ReplicaTable, index: number): Promise<void> => {
    for (let n = 0; !stopping; n += batch) {
      const keys = Array.from({ length: batch }, (_, i) => `${prefix}-${index}-${String(n + i).padStart(5, '0')}`);
      try {
        await t.set(keys);
        written.push(...keys);
        const at = Date.now();
        for (const k of keys) writtenAt.set(k, at);
      } catch {
        failedWrites++;
      }
      await sleep(gapMs);
    }
  };
  const running = Promise.all(tables.map(writer));
  return {
    written: () => written.length,
    async stop() {
      stopping = true;
      await running;
      return { written: [...written], writtenAt, failedWrites, seconds: (Date.now() - began) / 1000 };
    },
  };
}

/** Per replica, how many of `keys` it lacks and a few of them; empty when every replica holds every key. */
export async function missingOn(
  tables: readonly ReplicaTable[],
  keys: readonly string[],
): Promise<Record<string, string>> {
  const missing: Record<string, string> = {};
  await Promise.all(
    tables.map(async (t) => {
      const held = await t.keys().catch(() => new Set<string>());
      const lacks = keys.filter((k) => !held.has(k));
      if (lacks.length > 0)
        missing[t.pod] = `${lacks.length} of ${keys.length} missing, e.g. ${lacks.slice(0, 3).join(' ')}`;
    }),
  );
  return missing;
}

/**
 * Where a loss happened, for the failure message: per replica lacking keys, per writer (the key's middle
 * part), how many and when they were written (ISO times, to set beside the syncers' logs).
 */
export async function lossByWriter(
  tables: readonly ReplicaTable[],
  w: Pick<WriteResult, 'written' | 'writtenAt'>,
): Promise<string[]> {
  const lines: string[] = [];
  for (const t of tables) {
    const held = await t.keys().catch(() => new Set<string>());
    const byWriter = new Map<string, number[]>();
    for (const k of w.written) {
      if (held.has(k)) continue;
      const writer = k.split('-').at(-2) ?? '?';
      const times = byWriter.get(writer) ?? [];
      times.push(w.writtenAt.get(k) ?? 0);
      byWriter.set(writer, times);
    }
    const iso = (ms: number): string => new Date(ms).toISOString().slice(11, 23);
    for (const [writer, times] of byWriter) {
      lines.push(
        `${t.pod} lacks ${times.length} of writer ${writer}'s keys, written ${iso(Math.min(...times))}–${iso(Math.max(...times))}`,
      );
    }
  }
  return lines;
}

/**
 * Every container log of `pods` (`kubectl logs --all-containers --timestamps`, the syncer's included),
 * copied to a directory that outlives the sandbox; returns its path.
 */
export async function keepPodLogs(s: Sandbox, namespace: string, pods: readonly string[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'hps-loss-logs-'));
  for (const pod of pods) {
    const text = await s
      .kubectl('logs', '-n', namespace, pod, '--all-containers', '--timestamps', '--prefix')
      .catch((err: unknown) => String(err));
    writeFileSync(join(dir, `${pod}.log`), text);
  }
  return dir;
}

/** The closing numbers of one fault. */
export interface Convergence {
  readonly written: number;
  /** Keys found on every replica at the end. */
  readonly everywhere: number;
  readonly replicas: number;
  /** From the end of the fault (`since`) until every replica held every key. */
  readonly convergeMs: number;
}

/**
 * Waits until every replica holds every key of `keys` (entries replicate within seconds once the fault
 * is healed); returns the closing numbers, the time to converge counted from `since` (default: now).
 * On timeout the error says which replica lacks what.
 */
export async function waitEveryEntryEverywhere(
  tables: readonly ReplicaTable[],
  keys: readonly string[],
  what: string,
  opts: { since?: number; timeoutMs?: number } = {},
): Promise<Convergence> {
  const { since = Date.now(), timeoutMs = 120_000 } = opts;
  let last: Record<string, string> = {};
  try {
    await waitFor(
      async () => {
        last = await missingOn(tables, keys);
        return Object.keys(last).length === 0;
      },
      { what: `${what}: all ${keys.length} entries on each of ${tables.length} replicas`, timeoutMs, intervalMs: 500 },
    );
  } catch (err) {
    const complete = tables.map((t) => t.pod).filter((p) => !(p in last));
    throw new Error(
      `${(err as Error).message}\n${JSON.stringify(last, null, 1)}\nholding every entry: ${complete.join(' ') || 'none'}`,
      { cause: err },
    );
  }
  return { written: keys.length, everywhere: keys.length, replicas: tables.length, convergeMs: Date.now() - since };
}

/** The `t.diagnostic()` line of a fault's closing numbers. */
export function closingLine(fault: string, w: WriteResult, c: Convergence): string {
  return (
    `${fault}: ${c.written} entries written in ${w.seconds.toFixed(1)} s (${w.failedWrites} writes refused during the fault), ` +
    `${c.everywhere} found on every one of ${c.replicas} replicas, converged ${(c.convergeMs / 1000).toFixed(1)} s after the fault ended`
  );
}

/** iptables inside the network namespace of a process (a pod's: every container of a pod shares it). */
async function podIptables(pid: number, ...args: string[]): Promise<void> {
  await run('nsenter', [`--net=/proc/${pid}/ns/net`, 'iptables', '-w', ...args]);
}

/**
 * Drops every packet of the pod's peer traffic, both ways (its own links to the others and theirs to it),
 * as a partition would: silently, so each side notices only by its own timeouts. The pod's loopback
 * (a reloading HAProxy's old worker teaching the new one) is left alone. Returns what heals it.
 */
export async function cutPeerTraffic(pid: number, port = CONTRACT_DEFAULTS.peerPort): Promise<() => Promise<void>> {
  const rules = [
    ['INPUT', '!', '-i', 'lo', '-p', 'tcp', '--dport', String(port), '-j', 'DROP'],
    ['INPUT', '!', '-i', 'lo', '-p', 'tcp', '--sport', String(port), '-j', 'DROP'],
    ['OUTPUT', '!', '-o', 'lo', '-p', 'tcp', '--dport', String(port), '-j', 'DROP'],
    ['OUTPUT', '!', '-o', 'lo', '-p', 'tcp', '--sport', String(port), '-j', 'DROP'],
  ];
  for (const r of rules) await podIptables(pid, '-I', ...r);
  return async () => {
    for (const r of rules) await podIptables(pid, '-D', ...r);
  };
}

/** The webhook's pods (deploy/), by name, with the host pid of their container's process. */
export async function webhookProcesses(s: Sandbox): Promise<{ pod: string; pid: number | undefined }[]> {
  const core = s.controlPlane.kubeConfig.makeApiClient(CoreV1Api);
  const pods = await core.listNamespacedPod({
    namespace: WEBHOOK_NAMESPACE,
    labelSelector: 'app.kubernetes.io/component=webhook',
  });
  return Promise.all(
    pods.items
      .filter((p) => p.metadata?.deletionTimestamp === undefined)
      .map(async (p) => {
        const pod = p.metadata?.name ?? '';
        return { pod, pid: await s.containerPid(WEBHOOK_NAMESPACE, pod, 'webhook') };
      }),
  );
}
export const WEBHOOK_NAMESPACE = 'haproxy-peer-sync-system';

/** Waits until `pid` is gone (a SIGKILLed process is reaped by its shim). */
export async function waitGone(pid: number, what: string): Promise<void> {
  await waitFor(
    () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    },
    { what, timeoutMs: 30_000, intervalMs: 50 },
  );
}
