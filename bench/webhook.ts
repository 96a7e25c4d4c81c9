/**
 * `npm run bench:webhook`: a benchmark, not a test. Starts the webhook as the container image runs it
 * (compiled JavaScript from dist/, `node bin/haproxy-peer-sync.js webhook`, with the NODE_OPTIONS and
 * args of deploy/deployment.yaml) and, per run, with a fresh webhook process:
 *   1. idle: ready (a certificate loaded), then `--idle` seconds without a request → RSS;
 *   2. sustained load: `--connections` HTTPS keep-alive connections posting AdmissionReviews of a
 *      labelled HAProxy pod (~3 KB, as the apiserver sends them) to /mutate for `--duration` seconds
 *      → admissions/s, latency p50/p99, peak RSS (sampled every 100 ms, and the kernel's VmHWM);
 *   3. a fixed `--rate` (requests/s, open loop) for `--rate-duration` seconds → latency p99;
 *   4. `--after` seconds without a request → RSS, and whether it still grew in that window;
 *   5. the baseline: a bare fastify HTTPS server (bench/bare-webhook.ts) with the same key pair, TLS
 *      minimum, body limit and NODE_OPTIONS, under the same body and connections for `--bare-duration`
 *      seconds → its admissions/s, and our webhook's share of it (`webhook_vs_bare_rps_ratio`), and its peak RSS
 *      (`bare_rss_mb_max`: what fastify over HTTPS alone holds under that load, the floor of ours).
 * Default `--mode=cluster`: a real control plane (test/harness/control-plane.ts), the webhook
 * generating its chain into a Secret, keeping a MutatingWebhookConfiguration's caBundle and asking
 * SubjectAccessReviews, as deploy/ runs it. `--mode=files` needs no apiserver: mounted certificate files,
 * `--access-check=false`. Prints one line per run, then one JSON line (the last line): every figure as
 * the median over the runs, with `<name>_min` / `<name>_max` (bench/stats.ts, acrossRuns).
 * `webhook_rss_mb_max` is the highest of the 100 ms samples, the kernel's VmHWM and the RSS after the load.
 *
 * Flags: see FLAGS below (`--help`-free: a bad flag exits 2 and prints them all).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import YAML from 'yaml';
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../test/harness/control-plane.ts';
import { freePorts, spawnProcess, tailLog, waitFor, type ManagedProcess } from '../test/harness/processes.ts';
import { generateCa, generateServingCert } from '../certs/generate.ts';
import { mutatingWebhookConfiguration } from '../test/support/registration.ts';
import { acrossRuns, percentile } from './stats.ts';
import { flagsOrExit } from './entry.ts';

const root = resolve(import.meta.dirname, '..');

const FLAGS = {
  mode: {
    kind: 'string',
    defaultValue: 'cluster',
    choices: ['cluster', 'files'],
    description:
      'cluster: a real control plane (Secret, caBundle, SubjectAccessReviews); files: mounted certificates, no apiserver',
  },
  runs: {
    kind: 'count',
    defaultValue: 3,
    min: 1,
    description: 'runs, each with fresh processes (the JSON line gives the median and the spread)',
  },
  duration: { kind: 'number', defaultValue: 60, description: 'seconds of sustained load on the webhook' },
  connections: { kind: 'count', defaultValue: 50, min: 1, description: 'HTTPS keep-alive connections of the load' },
  idle: { kind: 'number', defaultValue: 5, description: 'seconds idle before the load (RSS idle)' },
  after: { kind: 'number', defaultValue: 30, description: 'seconds idle after the load (RSS after, and its growth)' },
  rate: { kind: 'number', defaultValue: 200, description: 'requests/s of the open-loop phase (latency p99)' },
  'rate-duration': { kind: 'number', defaultValue: 10, description: 'seconds of the open-loop phase' },
  'bare-duration': {
    kind: 'number',
    defaultValue: 20,
    description: 'seconds of sustained load on the bare fastify baseline (0: none)',
  },
  'node-options': { kind: 'string', description: "NODE_OPTIONS instead of deploy/'s ('' for Node's defaults)" },
  'no-build': { kind: 'boolean', description: 'use dist/ as it is' },
  entry: { kind: 'string', description: "path of another build's bin/haproxy-peer-sync.js, to compare" },
  'keep-logs': { kind: 'boolean', description: "keep the processes' logs" },
} as const;
const args = flagsOrExit(FLAGS, 'bench:webhook');
const mode = args.mode;
const runs = args.runs;
const durationS = args.duration;
const connections = args.connections;
const idleS = args.idle;
const afterS = args.after;
const rate = args.rate;
const rateDurationS = args['rate-duration'];
const bareDurationS = args['bare-duration'];

/** The webhook container of deploy/deployment.yaml: its NODE_OPTIONS (if any) are what we measure. */
function deployedNodeOptions(): string {
  const doc = YAML.parse(readFileSync(join(root, 'deploy/deployment.yaml'), 'utf8')) as {
    spec: {
      template: { spec: { containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } };
    };
  };
  const container = doc.spec.template.spec.containers.find((c) => c.name === 'webhook');
  return container?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
}
const nodeOptions = args['node-options'] ?? deployedNodeOptions();

// The image's layout: dist/ with package.json beside bin/ (webhook/main.ts reads the version from it).
if (!args['no-build']) {
  const build = spawnSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(root, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
  if (build.status !== 0) throw new Error('bench:webhook: building dist/ failed');
}
// --entry: another build of the CLI (e.g. of an older commit) to compare against, laid out the same way.
const entry = resolve(args.entry ?? join(root, 'dist/bin/haproxy-peer-sync.js'));
if (!existsSync(join(dirname(entry), '..', 'package.json')))
  copyFileSync(join(root, 'package.json'), join(dirname(entry), '..', 'package.json'));

const NAMESPACE = 'hps-bench';
const SERVICE_ACCOUNTS = ['haproxy', 'edge', 'api-gateway', 'ingress', 'default'];

/**
 * The AdmissionReview the apiserver sends for a replica of examples/haproxy.yaml: defaulted by then,
 * with its owner reference, managed fields and the projected token volume (≈3 KB). `@UID@` and `@SA@`
 * are filled per request (every admission has its own uid; a few ServiceAccounts exercise the cache).
 */
const REVIEW_TEMPLATE = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: '@UID@',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    requestKind: { group: '', version: 'v1', kind: 'Pod' },
    requestResource: { group: '', version: 'v1', resource: 'pods' },
    namespace: NAMESPACE,
    operation: 'CREATE',
    userInfo: {
      username: 'system:serviceaccount:kube-system:replicaset-controller',
      uid: 'b1f0c0de-0000-4000-8000-000000000001',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
    },
    object: {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: {
        generateName: 'haproxy-7d9c6b8f5-',
        namespace: NAMESPACE,
        uid: '@UID@',
        creationTimestamp: null,
        labels: {
          'app.kubernetes.io/name': 'haproxy',
          'app.kubernetes.io/part-of': 'haproxy-peer-sync-example',
          'haproxy-peer-sync.io/inject': 'true',
          'pod-template-hash': '7d9c6b8f5',
        },
        annotations: {
          'haproxy-peer-sync.io/service': 'haproxy',
          'kubectl.kubernetes.io/restartedAt': '2025-01-01T00:00:00Z',
        },
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: 'haproxy-7d9c6b8f5',
            uid: 'c2a1d0de-0000-4000-8000-000000000002',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
        managedFields: [
          {
            manager: 'kube-controller-manager',
            operation: 'Update',
            apiVersion: 'v1',
            time: '2025-01-01T00:00:00Z',
            fieldsType: 'FieldsV1',
            fieldsV1: {
              'f:metadata': {
                'f:annotations': { '.': {}, 'f:haproxy-peer-sync.io/service': {} },
                'f:generateName': {},
                'f:labels': {
                  '.': {},
                  'f:app.kubernetes.io/name': {},
                  'f:haproxy-peer-sync.io/inject': {},
                  'f:pod-template-hash': {},
                },
                'f:ownerReferences': { '.': {}, 'k:{"uid":"c2a1d0de-0000-4000-8000-000000000002"}': {} },
              },
              'f:spec': {
                'f:containers': {
                  'k:{"name":"haproxy"}': {
                    '.': {},
                    'f:env': {},
                    'f:image': {},
                    'f:name': {},
                    'f:ports': {},
                    'f:readinessProbe': {},
                    'f:resources': {},
                    'f:securityContext': {},
                    'f:volumeMounts': {},
                  },
                },
                'f:serviceAccountName': {},
                'f:volumes': {},
              },
            },
          },
        ],
      },
      spec: {
        volumes: [
          { name: 'config', configMap: { name: 'haproxy-config', defaultMode: 420 } },
          {
            name: 'kube-api-access-x7k2p',
            projected: {
              defaultMode: 420,
              sources: [
                { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
                { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
                {
                  downwardAPI: {
                    items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
                  },
                },
              ],
            },
          },
        ],
        containers: [
          {
            name: 'haproxy',
            image: 'haproxy:2.6',
            ports: [
              { name: 'http', containerPort: 8080, protocol: 'TCP' },
              { name: 'peers', containerPort: 10000, protocol: 'TCP' },
            ],
            env: [{ name: 'POD_IP', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } }],
            resources: { limits: { cpu: '1', memory: '256Mi' }, requests: { cpu: '100m', memory: '64Mi' } },
            volumeMounts: [
              { name: 'config', readOnly: true, mountPath: '/usr/local/etc/haproxy' },
              {
                name: 'kube-api-access-x7k2p',
                readOnly: true,
                mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
              },
            ],
            readinessProbe: {
              tcpSocket: { port: 'http' },
              timeoutSeconds: 1,
              periodSeconds: 2,
              successThreshold: 1,
              failureThreshold: 3,
            },
            terminationMessagePath: '/dev/termination-log',
            terminationMessagePolicy: 'File',
            imagePullPolicy: 'IfNotPresent',
            securityContext: {
              capabilities: { drop: ['ALL'] },
              runAsUser: 99,
              runAsNonRoot: true,
              readOnlyRootFilesystem: true,
              allowPrivilegeEscalation: false,
            },
          },
        ],
        restartPolicy: 'Always',
        terminationGracePeriodSeconds: 30,
        dnsPolicy: 'ClusterFirst',
        serviceAccountName: '@SA@',
        serviceAccount: '@SA@',
        securityContext: {},
        schedulerName: 'default-scheduler',
        tolerations: [
          { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
          { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        ],
        priority: 0,
        enableServiceLinks: true,
        preemptionPolicy: 'PreemptLowerPriority',
      },
      status: {},
    },
    oldObject: null,
    dryRun: false,
    options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
  },
});
let nextSa = 0;
function reviewBody(): string {
  const uid = randomUUID();
  const sa = SERVICE_ACCOUNTS[nextSa++ % SERVICE_ACCOUNTS.length] ?? 'default';
  return REVIEW_TEMPLATE.replaceAll('@UID@', uid).replaceAll('@SA@', sa);
}

/** VmRSS / VmHWM / RssAnon of a process, in MB. */
interface Memory {
  rss: number;
  hwm: number;
  anon: number;
}
function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024, anon: kb('RssAnon') / 1024 };
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat (clock ticks of 10 ms).
 * Per admission, it measures what an admission costs the webhook itself, whatever else the two cores
 * are busy with, where admissions/s also depends on the load generator and on other processes.
 */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name (which may hold spaces, in parentheses): utime is the 12th, stime the 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}
const CLOCK_TICKS_PER_S = 100;

/** Samples a process's memory every 100 ms until stopped; returns the highest VmRSS and RssAnon seen. */
function sampler(pid: number): { stop(): { rss: number; anon: number } } {
  const max = { rss: 0, anon: 0 };
  const timer = setInterval(() => {
    try {
      const m = memoryOf(pid);
      max.rss = Math.max(max.rss, m.rss);
      max.anon = Math.max(max.anon, m.anon);
    } catch {
      /* exited */
    }
  }, 100);
  return {
    stop: () => {
      clearInterval(timer);
      return max;
    },
  };
}

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  latencies: number[];
}

/** `load` while measuring the CPU time `pid` spends on it, per request in microseconds. */
async function withCpu(
  pid: number,
  load: () => Promise<LoadResult>,
): Promise<LoadResult & { cpuUsPerRequest: number }> {
  const before = cpuSecondsOf(pid);
  const result = await load();
  return { ...result, cpuUsPerRequest: ((cpuSecondsOf(pid) - before) * 1e6) / Math.max(1, result.requests) };
}

/** Closed loop: every connection posts the next review as soon as the previous answer arrived. */
async function sustained(pool: Pool, seconds: number, concurrency: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const began = performance.now();
  const until = began + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      if (!(await postReview(pool, latencies))) errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { requests: latencies.length, errors, seconds: (performance.now() - began) / 1000, latencies };
}

/** Open loop at a fixed rate: a request is sent on schedule whether or not the previous one answered. */
async function fixedRate(pool: Pool, seconds: number, perSecond: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const began = performance.now();
  const total = Math.round(seconds * perSecond);
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = began + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    inflight.push(
      postReview(pool, latencies).then((ok) => {
        if (!ok) errors++;
      }),
    );
  }
  await Promise.all(inflight);
  return { requests: latencies.length, errors, seconds: (performance.now() - began) / 1000, latencies };
}

/** One admission; true when it came back 200, allowed, with a JSON patch. Latency is recorded either way. */
async function postReview(pool: Pool, latencies: number[]): Promise<boolean> {
  const body = reviewBody();
  const t0 = performance.now();
  try {
    const res = await pool.request({
      path: '/mutate',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const text = await res.body.text();
    latencies.push(performance.now() - t0);
    return res.statusCode === 200 && text.includes('"patchType":"JSONPatch"') && text.includes('"allowed":true');
  } catch {
    latencies.push(performance.now() - t0);
    return false;
  }
}

interface RunResult {
  rps: number;
  p50: number;
  p99: number;
  p99AtRate: number;
  errors: number;
  cpuUs: number;
  rssIdle: number;
  rssPeak: number;
  hwm: number;
  rssAfter: number;
  rssAfterGrowth: number;
  anonPeak: number;
  anonAfter: number;
  bare: LoadFigures | undefined;
}

interface LoadFigures {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cpuUs: number;
  /** The bare server's highest VmRSS during its load (100 ms samples and VmHWM), MB. */
  rssPeak: number;
}

interface Target {
  args: string[];
  env: NodeJS.ProcessEnv;
  ca: () => Promise<string | undefined>;
  /** The serving key pair the webhook uses, as files, for the bare baseline. */
  keyPairFiles: () => Promise<{ cert: string; key: string }>;
}

/** The bare fastify baseline on the same key pair, body and connections (bench/bare-webhook.ts). */
async function bareRun(n: number, target: Target, ca: string, dir: string): Promise<LoadFigures> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port');
  const files = await target.keyPairFiles();
  const proc = await spawnProcess({
    name: `bare-run${n}`,
    command: process.execPath,
    logDir: dir,
    env: { ...process.env, NODE_OPTIONS: nodeOptions },
    args: [join(root, 'bench/bare-webhook.ts'), files.cert, files.key, String(port)],
  });
  try {
    const pool = new Pool(`https://127.0.0.1:${port}`, { connections, pipelining: 1, connect: { ca } });
    try {
      await waitFor(
        async () =>
          (await pool
            .request({ path: '/readyz', method: 'GET' })
            .then(async (r) => {
              await r.body.dump();
              return r.statusCode;
            })
            .catch(() => 0)) === 200,
        { what: 'the bare server', timeoutMs: 30_000, process: proc },
      );
      const peak = sampler(proc.pid);
      const load = await withCpu(proc.pid, () => sustained(pool, bareDurationS, connections));
      const rssPeak = Math.max(peak.stop().rss, memoryOf(proc.pid).hwm);
      return {
        rssPeak,
        rps: load.requests / load.seconds,
        p50: percentile(load.latencies, 50),
        p99: percentile(load.latencies, 99),
        errors: load.errors,
        cpuUs: load.cpuUsPerRequest,
      };
    } finally {
      await pool.close();
    }
  } finally {
    await proc.stop();
  }
}

async function oneRun(n: number, target: Target, dir: string): Promise<RunResult> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port');
  const env: NodeJS.ProcessEnv = { ...process.env, ...target.env, NODE_OPTIONS: nodeOptions };
  const proc: ManagedProcess = await spawnProcess({
    name: `webhook-run${n}`,
    command: process.execPath,
    logDir: dir,
    env,
    args: [entry, 'webhook', '--listen=127.0.0.1', `--port=${port}`, ...target.args],
  });
  try {
    const origin = `https://127.0.0.1:${port}`;
    const ca = await waitFor(target.ca, { what: 'the webhook CA', timeoutMs: 60_000, process: proc });
    const pool = new Pool(origin, { connections, pipelining: 1, connect: { ca } });
    try {
      await waitFor(
        async () =>
          (await pool.request({ path: '/readyz', method: 'GET' }).then(async (r) => {
            await r.body.dump();
            return r.statusCode;
          })) === 200,
        { what: 'webhook /readyz', timeoutMs: 60_000, process: proc },
      );
      await sleep(idleS * 1000);
      const idle = memoryOf(proc.pid);
      const peak = sampler(proc.pid);
      const load = await withCpu(proc.pid, () => sustained(pool, durationS, connections));
      const atRate = rate > 0 && rateDurationS > 0 ? await fixedRate(pool, rateDurationS, rate) : undefined;
      const { rss: rssPeak, anon: anonPeak } = peak.stop();
      const hwm = memoryOf(proc.pid).hwm;
      await sleep((afterS * 1000) / 2);
      const half = memoryOf(proc.pid);
      await sleep((afterS * 1000) / 2);
      const after = memoryOf(proc.pid);
      if (!proc.isRunning()) throw new Error(`the webhook exited during run ${n}:\n${await tailLog(proc.logPath)}`);
      await pool.close();
      // The baseline while this run's webhook idles (it holds no connection then): same body, TLS, connections.
      const bare = bareDurationS > 0 ? await bareRun(n, target, ca, dir) : undefined;
      return {
        bare,
        rps: load.requests / load.seconds,
        p50: percentile(load.latencies, 50),
        p99: percentile(load.latencies, 99),
        p99AtRate: atRate === undefined ? Number.NaN : percentile(atRate.latencies, 99),
        errors: load.errors + (atRate?.errors ?? 0),
        cpuUs: load.cpuUsPerRequest,
        rssIdle: idle.rss,
        rssPeak: Math.max(rssPeak, idle.rss),
        hwm,
        rssAfter: after.rss,
        rssAfterGrowth: after.rss - half.rss,
        anonPeak,
        anonAfter: after.anon,
      };
    } finally {
      await pool.close().catch(() => undefined);
    }
  } finally {
    const exit = await proc.stop();
    if (exit.code !== 0)
      process.stderr.write(
        `bench:webhook: run ${n}: the webhook exited with code ${exit.code} signal ${exit.signal}; log ${proc.logPath}\n`,
      );
  }
}

const round = (v: number, digits = 1): number => Number(v.toFixed(digits));

const dir = mkdtempSync(join(tmpdir(), 'hps-bench-webhook-'));
let cp: ControlPlane | undefined;
const results: RunResult[] = [];
let failed = false;
try {
  let target: Target;
  if (mode === 'cluster') {
    process.stderr.write('bench:webhook: starting the control plane…\n');
    cp = await startControlPlane();
    const plane = cp;
    await plane.createNamespace(NAMESPACE);
    const configName = 'hps-bench-webhook';
    // Never called by the apiserver (it matches no namespace): only its caBundle is kept in sync.
    await plane.kubeConfig.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({
      body: mutatingWebhookConfiguration({
        name: configName,
        target: { url: 'https://127.0.0.1:1/mutate' },
        namespaceLabels: { 'hps-bench': 'never' },
      }),
    });
    const core = plane.kubeConfig.makeApiClient(CoreV1Api);
    target = {
      env: { KUBECONFIG: plane.kubeconfigPath },
      args: [
        `--secret-name=hps-bench-tls`,
        `--secret-namespace=${NAMESPACE}`,
        '--service-name=hps-webhook',
        '--extra-hosts=127.0.0.1,localhost',
        `--webhook-config-name=${configName}`,
      ],
      ca: async () => {
        const secret = await core.readNamespacedSecret({ namespace: NAMESPACE, name: 'hps-bench-tls' });
        const ca = secret.data?.['ca.crt'];
        return ca === undefined ? undefined : Buffer.from(ca, 'base64').toString('utf8');
      },
      // The pair the webhook generated into the Secret.
      keyPairFiles: async () => {
        const data = (await core.readNamespacedSecret({ namespace: NAMESPACE, name: 'hps-bench-tls' })).data ?? {};
        const files = { cert: join(dir, 'secret-tls.crt'), key: join(dir, 'secret-tls.key') };
        writeFileSync(files.cert, Buffer.from(data['tls.crt'] ?? '', 'base64'));
        writeFileSync(files.key, Buffer.from(data['tls.key'] ?? '', 'base64'), { mode: 0o600 });
        return files;
      },
    };
  } else {
    const now = new Date();
    const ca = generateCa({ commonName: 'hps-bench-ca', validityDays: 2, now });
    const serving = generateServingCert({ ca, hosts: ['localhost', '127.0.0.1'], validityDays: 1, now });
    writeFileSync(join(dir, 'tls.crt'), serving.certPem);
    writeFileSync(join(dir, 'tls.key'), serving.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    target = {
      env: {},
      args: [
        `--tls-cert=${join(dir, 'tls.crt')}`,
        `--tls-key=${join(dir, 'tls.key')}`,
        `--tls-ca=${join(dir, 'ca.crt')}`,
        '--access-check=false',
      ],
      ca: async () => ca.certPem,
      keyPairFiles: async () => ({ cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') }),
    };
  }
  process.stderr.write(
    `bench:webhook: mode ${mode}, NODE_OPTIONS='${nodeOptions}', ${runs} runs of ${durationS} s at ${connections} connections\n`,
  );
  for (let n = 1; n <= runs; n++) {
    const r = await oneRun(n, target, dir);
    results.push(r);
    console.log(
      `run ${n}: ${Math.round(r.rps)} admissions/s (${Math.round(r.cpuUs)} µs of webhook CPU each), p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, p99 at ${rate}/s ${r.p99AtRate.toFixed(1)} ms, errors ${r.errors}; ` +
        `RSS idle ${r.rssIdle.toFixed(1)} MB, peak ${r.rssPeak.toFixed(1)} MB (VmHWM ${r.hwm.toFixed(1)}; anon ${r.anonPeak.toFixed(1)}), after ${r.rssAfter.toFixed(1)} MB (last ${afterS / 2} s: ${r.rssAfterGrowth >= 0 ? '+' : ''}${r.rssAfterGrowth.toFixed(1)} MB; anon ${r.anonAfter.toFixed(1)} MB)` +
        (r.bare === undefined
          ? ''
          : `; bare fastify ${Math.round(r.bare.rps)} admissions/s (${Math.round(r.bare.cpuUs)} µs of CPU each), p50 ${r.bare.p50.toFixed(1)} ms, p99 ${r.bare.p99.toFixed(1)} ms, RSS peak ${r.bare.rssPeak.toFixed(1)} MB (ratio ${(r.rps / r.bare.rps).toFixed(2)})`),
    );
  }
} catch (err) {
  failed = true;
  process.stderr.write(`bench:webhook: ${(err as Error).stack ?? String(err)}\n(logs in ${dir})\n`);
} finally {
  await cp?.stop();
}
if (failed) process.exit(1);
if (args['keep-logs']) process.stderr.write(`bench:webhook: logs in ${dir}\n`);
else rmSync(dir, { recursive: true, force: true });

/** One run's figures; the JSON line gives each as the median over the runs with its _min / _max. */
function figures(r: RunResult): Record<string, number> {
  const out: Record<string, number> = {
    admissions_per_s: Math.round(r.rps),
    latency_ms_p50: round(r.p50, 2),
    latency_ms_p99: round(r.p99, 2),
    cpu_us_per_admission: Math.round(r.cpuUs),
    [`webhook_p99_ms_at_${rate}rps`]: round(r.p99AtRate, 2),
    errors: r.errors + (r.bare?.errors ?? 0),
    rss_mb_idle: round(r.rssIdle),
    rss_mb_peak: round(Math.max(r.rssPeak, r.hwm)),
    rss_anon_mb_peak: round(r.anonPeak),
    rss_mb_after: round(r.rssAfter),
    rss_mb_after_growth: round(r.rssAfterGrowth),
    webhook_rss_mb_max: round(Math.max(r.rssPeak, r.hwm, r.rssAfter)),
  };
  if (r.bare !== undefined) {
    out.bare_admissions_per_s = Math.round(r.bare.rps);
    out.bare_latency_ms_p50 = round(r.bare.p50, 2);
    out.bare_latency_ms_p99 = round(r.bare.p99, 2);
    out.bare_cpu_us_per_admission = Math.round(r.bare.cpuUs);
    // What a fastify HTTPS server alone holds under the same load: the floor of webhook_rss_mb_max.
    out.bare_rss_mb_max = round(r.bare.rssPeak);
    out.webhook_vs_bare_rps_ratio = round(r.rps / r.bare.rps, 2);
  }
  return out;
}

console.log('');
console.log(
  'RSS = VmRSS of the webhook process (private memory plus the mapped Node binary, ~50 MB); anon = RssAnon, the',
);
console.log(
  "private part; peak = the highest of the 100 ms samples during the load and the kernel's VmHWM; after = once the",
);
console.log(
  'load has stopped. bare = a fastify HTTPS server that only parses the body (bench/bare-webhook.ts), same key pair,',
);
console.log(
  "body and connections. Latencies are the load generator's, on the same 2 cores. JSON: median over the runs, with",
);
console.log('_min/_max their spread.');
console.log(
  JSON.stringify({
    mode,
    runs,
    duration_s: durationS,
    connections,
    node_options: nodeOptions,
    ...acrossRuns(results.map(figures)),
  }),
);
