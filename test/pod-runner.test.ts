/**
 * The pod runner against real processes: busybox-style shell containers, the sticky backend (whoami)
 * and HAProxy, in private mount/UTS namespaces on a 127.x address of their own. No apiserver: ConfigMaps
 * come from a fixed list and the ServiceAccount token from a stand-in TokenRequest.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { V1ContainerStatus, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { pino } from 'pino';
import { createLogger, type Logger } from '../common/logger.ts';
import { expandVariables } from './harness/pod-runner-env.ts';
import { findImage, imageArgv, imageRepository, resolveArgv } from './harness/pod-runner-images.ts';
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from './harness/control-plane.ts';
import {
  kubeAccessFromKubeConfig, objectSourceFromKube, objectSourceFromList, startPod, STICKY_BACKEND_IMAGE,
  type PodHandle, type TokenRequestOptions,
} from './harness/pod-runner.ts';

// A random 127.x.y.z per run: other suites (and other people's runs) use 127.0.0.x.
const octet = (lo: number, span: number): number => lo + Math.floor(Math.random() * span);
const POD_IP = `127.${octet(100, 100)}.${octet(0, 250)}.${octet(10, 200)}`;
const SUFFIX = Math.random().toString(36).slice(2, 7);
// Pods with a network namespace of their own live in the lab's pod network (scripts/lab.sh).
const POD_NET = `10.244.${octet(200, 50)}`;
const POD_NET_HOST = octet(10, 200);
const podNetworkIP = (i: number): string => `${POD_NET}.${POD_NET_HOST + i}`;
const SHARED = '/srv/hps-pod-runner-test/shared';
const BACKOFF = { initialMs: 200, maxMs: 1000 };

let dir: string;
let logger: Logger;
const pods: PodHandle[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pod-runner-test-'));
  logger = createLogger('pod-runner-test', 'info', pino.destination({ dest: join(dir, 'runner.log'), sync: true, mkdir: true }));
});

after(async () => {
  await Promise.all(pods.map((p) => p.stop(1)));
  await rm(dir, { recursive: true, force: true });
  // The mount points the containers created on the host are empty directories; remove ours.
  await rmdir(SHARED).catch(() => undefined);
  await rmdir('/srv/hps-pod-runner-test').catch(() => undefined);
});

const HAPROXY_CFG = `global
    log stdout format raw local0 info
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend web
    bind "\${POD_IP}:8081"
    http-request return status 200 content-type text/plain file ${SHARED}/greeting if { path /greeting }
    http-request return status 200 content-type text/plain lf-string "name=%[env(POD_NAME)] namespace=%[env(POD_NAMESPACE)] ip=%[env(POD_IP)] node=%[env(NODE_NAME)] sa=%[env(SERVICE_ACCOUNT)] hostname=%[hostname] greeting=%[env(GREETING)]" if { path /env }
    default_backend whoami
backend whoami
    server whoami "\${POD_IP}:8080"
`;

const downward = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });

function webPod(name: string): V1Pod {
  return {
    metadata: { name, namespace: 'lab', uid: `uid-${name}` },
    spec: {
      nodeName: 'lab-node-1',
      serviceAccountName: 'web',
      terminationGracePeriodSeconds: 10,
      volumes: [{ name: 'shared', emptyDir: {} }, { name: 'config', configMap: { name: 'web-haproxy' } }],
      initContainers: [
        {
          // $(POD_NAME) is expanded by the runner, as by the kubelet; sh would run it as a command.
          name: 'prepare', image: 'busybox:1.36', command: ['sh', '-c'],
          args: [`echo "written by $(POD_NAME) in $(POD_NAMESPACE)" > ${SHARED}/greeting`],
          env: [downward('POD_NAME', 'metadata.name'), downward('POD_NAMESPACE', 'metadata.namespace')],
          volumeMounts: [{ name: 'shared', mountPath: SHARED }],
        },
        {
          // A native sidecar: its startup probe passes only once it has written sidecar-started.
          name: 'sidecar', image: 'busybox:1.36', restartPolicy: 'Always',
          command: ['sh', '-c', [
            `echo "greeting: $(cat ${SHARED}/greeting)"`, 'echo "hostname: $(hostname)"',
            'if touch /pod-runner-rootfs-check 2>/dev/null; then echo "rootfs: writable"; rm -f /pod-runner-rootfs-check; else echo "rootfs: read-only"; fi',
            'trap \'echo "sidecar: SIGTERM"; exit 0\' TERM', 'sleep 0.3', `touch ${SHARED}/sidecar-started`,
            'while :; do sleep 0.1; done'].join('\n')],
          startupProbe: { exec: { command: ['test', '-f', `${SHARED}/sidecar-started`] }, periodSeconds: 1, failureThreshold: 30 },
          volumeMounts: [{ name: 'shared', mountPath: SHARED }],
          securityContext: { readOnlyRootFilesystem: true },
        },
      ],
      containers: [
        {
          name: 'whoami', image: STICKY_BACKEND_IMAGE, args: ['--port=8080'],
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 1, failureThreshold: 1 },
        },
        {
          name: 'haproxy', image: 'haproxy:2.6',
          env: [
            downward('POD_NAME', 'metadata.name'), downward('POD_NAMESPACE', 'metadata.namespace'),
            downward('POD_IP', 'status.podIP'), downward('NODE_NAME', 'spec.nodeName'),
            downward('SERVICE_ACCOUNT', 'spec.serviceAccountName'), { name: 'GREETING', value: 'hello-$(POD_NAME)' },
          ],
          ports: [{ name: 'web', containerPort: 8081 }],
          readinessProbe: { tcpSocket: { port: 'web' }, periodSeconds: 1 },
          volumeMounts: [{ name: 'shared', mountPath: SHARED, readOnly: true }, { name: 'config', mountPath: '/usr/local/etc/haproxy' }],
          securityContext: { readOnlyRootFilesystem: true },
        },
      ],
    },
  };
}

/** Every process whose parent chain leads to one of `roots` (HAProxy workers, the sidecar's sleeps). */
async function descendants(roots: readonly number[]): Promise<Set<number>> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (Number.isInteger(ppid)) parents.set(Number(entry), ppid);
  }
  const found = new Set(roots);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parents) if (found.has(ppid) && !found.has(pid)) { found.add(pid); grew = true; }
  }
  return found;
}

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };

/** Processes whose command line mentions this run's pod IP (the sticky backend binds it). */
async function processesMentioning(text: string): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) out.push(Number(entry));
  }
  return out;
}

const byName = (statuses: readonly V1ContainerStatus[] | undefined, name: string): V1ContainerStatus | undefined =>
  statuses?.find((s) => s.name === name);

describe('a pod with an init container, a native sidecar, the sticky backend and HAProxy', () => {
  const name = `web-${SUFFIX}`;
  const history: V1PodStatus[] = [];
  let pod: PodHandle;

  before(async () => {
    pod = startPod(webPod(name), {
      ip: POD_IP, workDir: join(dir, 'pods'), logDir: join(dir, 'logs'), logger, backoff: BACKOFF,
      objects: objectSourceFromList({ configMaps: [{ metadata: { name: 'web-haproxy', namespace: 'lab' }, data: { 'haproxy.cfg': HAPROXY_CFG } }] }),
      // A deep copy: the history must not change when the runner's objects do.
      onStatus: (status) => history.push(JSON.parse(JSON.stringify(status)) as V1PodStatus),
    });
    pods.push(pod);
    await pod.waitFor((p) => p.ready(), 'the pod to become ready', 30_000);
  });

  test('runs the init container, then the sidecar once started, then the main containers', async () => {
    const state = (s: V1PodStatus, c: string): string => {
      const st = byName(s.initContainerStatuses, c) ?? byName(s.containerStatuses, c);
      return st?.state?.running !== undefined ? 'running' : st?.state?.terminated !== undefined ? 'terminated' : 'waiting';
    };
    // No status ever shows a container running before the one before it was done / started.
    for (const s of history) {
      if (state(s, 'sidecar') !== 'waiting') assert.equal(byName(s.initContainerStatuses, 'prepare')?.state?.terminated?.exitCode, 0);
      for (const main of ['whoami', 'haproxy']) {
        if (state(s, main) !== 'waiting') assert.equal(byName(s.initContainerStatuses, 'sidecar')?.started, true, `${main} ran before the sidecar started`);
      }
    }
    assert.ok(history.some((s) => state(s, 'sidecar') === 'running' && state(s, 'whoami') === 'waiting'), 'the sidecar ran while the main containers waited');
    const last = pod.status();
    assert.equal(last.phase, 'Running');
    assert.equal(last.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    assert.equal(last.podIP, POD_IP);
    // The sidecar saw the file the init container wrote in the shared emptyDir, and its own hostname.
    const sidecarLog = await readFile(pod.logFile('sidecar'), 'utf8');
    assert.match(sidecarLog, new RegExp(`greeting: written by ${name} in lab\n`));
    assert.match(sidecarLog, new RegExp(`hostname: ${name}\n`));
    assert.match(sidecarLog, /rootfs: read-only\n/);
  });

  test('HAProxy sees the same emptyDir file, its ConfigMap, the downward-API env and the pod hostname', async () => {
    const greeting = await fetch(`http://${POD_IP}:8081/greeting`);
    assert.equal(await greeting.text(), `written by ${name} in lab\n`);
    const env = await (await fetch(`http://${POD_IP}:8081/env`)).text();
    assert.equal(env, `name=${name} namespace=lab ip=${POD_IP} node=lab-node-1 sa=web hostname=${name} greeting=hello-${name}`);
  });

  test('the sticky backend answers with its pod name, through HAProxy', async () => {
    const res = await fetch(`http://${POD_IP}:8081/`);
    assert.equal(res.headers.get('x-served-by'), name);
    assert.match(await res.text(), new RegExp(`^Hostname: ${name}$`, 'm'));
  });

  test('readiness follows the real HTTP probe', async () => {
    await fetch(`http://${POD_IP}:8080/health`, { method: 'POST', body: '503' });
    await pod.waitFor((p) => !p.ready(), 'the pod to become unready');
    assert.equal(pod.status().conditions?.find((c) => c.type === 'Ready')?.status, 'False');
    assert.equal(byName(pod.containerStatuses(), 'whoami')?.ready, false);
    await fetch(`http://${POD_IP}:8080/health`, { method: 'POST', body: '200' });
    await pod.waitFor((p) => p.ready(), 'the pod to become ready again');
  });

  test('a SIGKILLed container is restarted; restartContainer restarts one at once', async () => {
    const before = pod.pidOf('whoami');
    assert.ok(before !== undefined);
    process.kill(before, 'SIGKILL');
    await pod.waitFor((p) => (byName(p.containerStatuses(), 'whoami')?.restartCount ?? 0) >= 1 && p.ready(), 'whoami to be restarted and ready');
    const status = byName(pod.containerStatuses(), 'whoami');
    assert.equal(status?.lastState?.terminated?.signal, 9);
    assert.notEqual(pod.pidOf('whoami'), before);

    const haproxyBefore = pod.pidOf('haproxy');
    await pod.restartContainer('haproxy');
    assert.notEqual(pod.pidOf('haproxy'), haproxyBefore);
    assert.equal(byName(pod.containerStatuses(), 'haproxy')?.restartCount, 1);
    await pod.waitFor((p) => p.ready(), 'the pod to be ready after the HAProxy restart');
  });

  test('stop: main containers first, then the sidecar; no process is left', async () => {
    const roots = ['sidecar', 'whoami', 'haproxy'].map((c) => pod.pidOf(c)).filter((p): p is number => p !== undefined);
    assert.equal(roots.length, 3);
    const all = await descendants(roots);
    assert.ok(all.size > roots.length, 'HAProxy workers and the sidecar\'s sleep are found too');
    const mark = history.length;
    await pod.stop(5);
    const after = history.slice(mark);
    const terminated = (s: V1PodStatus, c: string): boolean =>
      (byName(s.initContainerStatuses, c) ?? byName(s.containerStatuses, c))?.state?.terminated !== undefined;
    assert.ok(after.some((s) => terminated(s, 'whoami') && terminated(s, 'haproxy') && !terminated(s, 'sidecar')),
      'a status shows both main containers terminated while the sidecar still ran');
    assert.ok(terminated(pod.status(), 'sidecar'));
    assert.match(await readFile(pod.logFile('sidecar'), 'utf8'), /sidecar: SIGTERM\n/);
    // Each got SIGTERM and exited by itself within the grace period (exit 0: no SIGKILL needed).
    assert.equal(byName(pod.containerStatuses(), 'whoami')?.state?.terminated?.exitCode, 0);
    assert.deepEqual([...all].filter(alive), []);
    assert.deepEqual(await processesMentioning(POD_IP), []);
    assert.equal(pod.ready(), false);
  });
});

describe('ServiceAccount token, in-cluster env and ConfigMap subPath', () => {
  test('a container finds token, ca.crt and namespace at the standard path', async () => {
    const requests: { sa: string; ns: string; req: TokenRequestOptions | undefined }[] = [];
    const name = `sa-${SUFFIX}`;
    const pod = startPod({
      metadata: { name, namespace: 'lab', uid: `uid-${name}` },
      spec: {
        restartPolicy: 'Never',
        serviceAccountName: 'reader',
        volumes: [{ name: 'app', configMap: { name: 'app', items: [{ key: 'app.conf', path: 'conf/app.conf' }] } }],
        containers: [{
          name: 'main', image: 'docker.io/library/busybox:1.36',
          command: ['sh', '-c', 'd=/var/run/secrets/kubernetes.io/serviceaccount; echo "token=$(cat $d/token) ns=$(cat $d/namespace) ca=$(head -1 $d/ca.crt)"; '
            + 'echo "api=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"; echo "conf=$(cat /etc/pod-runner-test/app.conf)"; '
            + 'if echo x > $d/token 2>/dev/null; then echo "token: writable"; else echo "token: read-only"; fi'],
          volumeMounts: [{ name: 'app', mountPath: '/etc/pod-runner-test/app.conf', subPath: 'conf/app.conf' }],
        }],
      },
    }, {
      ip: POD_IP, workDir: join(dir, 'pods'), logDir: join(dir, 'logs'), logger, backoff: BACKOFF,
      objects: objectSourceFromList({ configMaps: [{ metadata: { name: 'app', namespace: 'lab' }, data: { 'app.conf': 'answer=42' } }] }),
      kube: {
        server: 'https://127.0.0.1:6443',
        caPem: '-----BEGIN CERTIFICATE-----\nlab\n-----END CERTIFICATE-----\n',
        tokenFor: (sa, ns, req) => { requests.push({ sa, ns, req }); return Promise.resolve(`token-for-${sa}`); },
      },
    });
    pods.push(pod);
    await pod.waitFor((p) => p.status().phase === 'Succeeded', 'the container to finish');
    const log = await readFile(pod.logFile('main'), 'utf8');
    assert.match(log, /^token=token-for-reader ns=lab ca=-----BEGIN CERTIFICATE-----$/m);
    assert.match(log, /^api=127\.0\.0\.1:6443$/m);
    assert.match(log, /^conf=answer=42$/m);
    assert.match(log, /^token: read-only$/m);
    assert.deepEqual(requests.map((r) => [r.sa, r.ns, r.req?.boundPod?.name]), [['reader', 'lab', name]]);
    await pod.stop(1);
  });
});

describe('against a real apiserver: in-cluster config, TokenRequest token, RBAC', () => {
  let cp: ControlPlane | undefined;
  before(async () => { cp = await startControlPlane(); });
  after(async () => { await cp?.stop(); });

  test('a pod created through the apiserver reads only what its ServiceAccount may read', async () => {
    assert.ok(cp !== undefined);
    const ns = `pr-${SUFFIX}`;
    await cp.createNamespace(ns);
    const core = cp.kubeConfig.makeApiClient(CoreV1Api);
    const rbac = cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'reader' } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'allowed' }, data: { key: 'visible' } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'other' }, data: { key: 'hidden' } } });
    await rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name: 'read-allowed' },
      rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['allowed'], verbs: ['get'] }] } });
    await rbac.createNamespacedRoleBinding({ namespace: ns, body: { metadata: { name: 'reader' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-allowed' },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }] } });
    // The program the container runs: @kubernetes/client-node's in-cluster config, as the syncer uses it.
    const script = [
      "import * as k8s from '@kubernetes/client-node';",
      'const kc = new k8s.KubeConfig(); kc.loadFromCluster();',
      'const api = kc.makeApiClient(k8s.CoreV1Api);',
      "const ns = kc.getContextObject(kc.getCurrentContext())?.namespace ?? '';",
      "const code = (p) => p.then(() => 200, (e) => e.code);",
      "console.log('allowed=' + (await api.readNamespacedConfigMap({ namespace: ns, name: 'allowed' })).data.key);",
      "console.log('other=' + await code(api.readNamespacedConfigMap({ namespace: ns, name: 'other' })));",
      "console.log('secrets=' + await code(api.listNamespacedSecret({ namespace: ns })));",
      "console.log('apiserver=' + process.env.KUBERNETES_SERVICE_HOST + ':' + process.env.KUBERNETES_SERVICE_PORT);",
    ].join('\n');
    const created = await core.createNamespacedPod({ namespace: ns, body: {
      metadata: { name: 'rbac-check' },
      spec: { serviceAccountName: 'reader', restartPolicy: 'Never',
        containers: [{ name: 'main', image: 'ghcr.io/haproxy-peer-sync/haproxy-peer-sync:test', command: ['node', '--input-type=module', '-e', script] }] },
    } });
    // ServiceAccount admission added the projected token volume; the runner serves it from TokenRequest.
    assert.ok(created.spec?.volumes?.some((v) => v.projected?.sources?.some((s) => s.serviceAccountToken !== undefined)));
    // In a network namespace of its own, the pod reaches the apiserver at the `kubernetes` Service IP.
    const pod = startPod(created, {
      ip: podNetworkIP(0), workDir: join(dir, 'pods'), logDir: join(dir, 'logs'), logger, backoff: BACKOFF, network: 'pod',
      kube: await kubeAccessFromKubeConfig(cp.kubeConfig), objects: objectSourceFromKube(cp.kubeConfig),
    });
    pods.push(pod);
    await pod.waitFor((p) => p.status().phase !== 'Running' && p.status().phase !== 'Pending', 'the container to finish');
    const log = await readFile(pod.logFile('main'), 'utf8');
    assert.equal(pod.status().phase, 'Succeeded', log);
    assert.match(log, /^allowed=visible$/m);
    assert.match(log, /^other=403$/m);
    assert.match(log, /^secrets=403$/m);
    assert.match(log, /^apiserver=10\.0\.0\.1:443$/m);
    await pod.stop(1);
  });
});

describe('a network namespace per pod (network: pod)', () => {
  // Stands in for the cluster DNS on the lab's loopback: answers every datagram with "echo:" + it.
  let dns: Socket | undefined;
  before(async () => {
    const socket = createSocket('udp4');
    socket.on('message', (msg, from) => socket.send(Buffer.concat([Buffer.from('echo:'), msg]), from.port, from.address));
    await new Promise<void>((resolve, reject) => { socket.once('error', reject); socket.bind(53, '127.0.0.53', resolve); });
    dns = socket;
  });
  after(() => { dns?.close(); });

  test('two pods both listen on 0.0.0.0:8080, reach each other, and each its own localhost', async () => {
    const names = [`net-a-${SUFFIX}`, `net-b-${SUFFIX}`];
    // Asks the nameserver of /etc/resolv.conf, from inside the pod's network namespace.
    const dnsCheck = [
      "import { createSocket } from 'node:dgram'; import { readFileSync } from 'node:fs';",
      "const ns = /^nameserver\\s+(\\S+)/m.exec(readFileSync('/etc/resolv.conf', 'utf8'))[1];",
      "const s = createSocket('udp4'); s.on('message', (m) => { console.log('nameserver=' + ns + ' answer=' + m); s.close(); });",
      "s.send('ping', 53, ns);",
    ].join('\n');
    const handles = names.map((name, i) => startPod({
      metadata: { name, namespace: 'lab' },
      spec: {
        terminationGracePeriodSeconds: 5,
        initContainers: [{ name: 'dns', image: 'ghcr.io/haproxy-peer-sync/haproxy-peer-sync:test', command: ['node', '--input-type=module', '-e', dnsCheck] }],
        containers: [
          { name: 'whoami', image: STICKY_BACKEND_IMAGE, args: ['--port=8080'], ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 1 } },
          // Ready only when the pod's own localhost answers: containers of a pod share it.
          { name: 'client', image: 'busybox', command: ['sh', '-c', "trap 'exit 0' TERM; while :; do sleep 0.1; done"],
            readinessProbe: { exec: { command: ['wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8080/health'] }, periodSeconds: 1 } },
        ],
      },
    }, {
      ip: podNetworkIP(1 + i), workDir: join(dir, 'pods'), logDir: join(dir, 'logs'), logger, backoff: BACKOFF, network: 'pod',
      resolvConf: 'nameserver 127.0.0.53\nsearch lab.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n',
    }));
    pods.push(...handles);
    await Promise.all(handles.map((h) => h.waitFor((p) => p.ready(), 'the pod to become ready')));
    for (const [i, name] of names.entries()) {
      const res = await fetch(`http://${podNetworkIP(1 + i)}:8080/`);
      assert.match(await res.text(), new RegExp(`^Hostname: ${name}$`, 'm'));
    }
    const [a, b] = handles as [PodHandle, PodHandle];
    const fromA = await a.exec('client', ['wget', '-q', '-O', '-', `http://${podNetworkIP(2)}:8080/`]);
    assert.equal(fromA.exitCode, 0, fromA.output);
    assert.match(fromA.output, new RegExp(`^Hostname: ${names[1] ?? ''}$`, 'm'));
    const own = await b.exec('client', ['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/']);
    assert.match(own.output, new RegExp(`^Hostname: ${names[1] ?? ''}$`, 'm'));
    // The lab's nameserver is reached through the pod-side DNS address.
    assert.match(await readFile(a.logFile('dns'), 'utf8'), /^nameserver=10\.0\.0\.10 answer=echo:ping$/m);
    await Promise.all(handles.map((h) => h.stop(5)));
    // The namespaces are gone, and their veth pairs with them.
    const { stdout } = await promisify(execFile)('ip', ['-o', 'link', 'show']);
    assert.doesNotMatch(stdout, new RegExp(`hps${[0, 1].map((i) => podNetworkIP(1 + i).split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('')).join('|hps')}`));
  });
});

describe('failures', () => {
  test('an image the lab does not know fails the pod with a clear reason, and nothing runs', async () => {
    const pod = startPod({
      metadata: { name: `unknown-${SUFFIX}`, namespace: 'lab' },
      spec: { containers: [{ name: 'main', image: 'nginx:1.27' }] },
    }, { ip: POD_IP, workDir: join(dir, 'pods'), logDir: join(dir, 'logs'), logger });
    pods.push(pod);
    await pod.waitFor((p) => p.status().phase === 'Failed', 'the pod to fail');
    const status = pod.status();
    assert.equal(status.reason, 'ErrImagePull');
    assert.match(status.message ?? '', /image "nginx:1.27" is not in the lab's image table/);
    assert.equal(pod.pidOf('main'), undefined);
    assert.equal(byName(status.containerStatuses, 'main')?.state?.waiting?.reason, 'ErrImagePull');
  });

  test('a failing init container is retried with backoff; exec, volumePath and preStop', async () => {
    const name = `retry-${SUFFIX}`;
    const pod = startPod({
      metadata: { name, namespace: 'lab' },
      spec: {
        volumes: [{ name: 'scratch', emptyDir: {} }],
        // Fails on its first two runs: the runner must retry it, and start main only after success.
        initContainers: [{ name: 'flaky', image: 'busybox', command: ['sh', '-c', 'echo x >> /scratch/runs; [ "$(wc -l < /scratch/runs)" -ge 3 ]'],
          volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] }],
        containers: [{ name: 'main', image: 'busybox', command: ['sh', '-c', 'echo "runs=$(wc -l < /scratch/runs)"; touch /scratch/up; '
            + 'trap \'echo "main: SIGTERM after preStop=$(cat /scratch/prestop)"; exit 0\' TERM; while :; do sleep 0.1; done'],
          readinessProbe: { exec: { command: ['test', '-f', '/scratch/up'] }, periodSeconds: 1 },
          lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo ran > /scratch/prestop'] } } },
          volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] }],
      },
    }, { ip: POD_IP, workDir: join(dir, 'pods'), logDir: join(dir, 'logs'), logger, backoff: BACKOFF });
    pods.push(pod);
    await pod.waitFor((p) => p.ready(), 'the pod to become ready');
    const flaky = byName(pod.initContainerStatuses(), 'flaky');
    assert.equal(flaky?.restartCount, 2);
    assert.equal(flaky?.state?.terminated?.exitCode, 0);
    assert.equal(flaky?.lastState?.terminated?.exitCode, 1);
    assert.match(await readFile(pod.logFile('main'), 'utf8'), /^runs=3$/m);
    // exec and the volume's host path see the same emptyDir.
    const scratch = pod.volumePath('scratch');
    assert.ok(scratch !== undefined);
    assert.equal(await readFile(join(scratch, 'runs'), 'utf8'), 'x\nx\nx\n');
    const exec = await pod.exec('main', ['sh', '-c', 'wc -l < /scratch/runs; hostname']);
    assert.deepEqual([exec.exitCode, exec.output], [0, `3\n${name}\n`]);
    await pod.stop(5);
    assert.match(await readFile(pod.logFile('main'), 'utf8'), /^main: SIGTERM after preStop=ran$/m);
    assert.equal(byName(pod.containerStatuses(), 'main')?.state?.terminated?.exitCode, 0);
    assert.equal(pod.volumePath('scratch'), undefined);
  });
});

describe('pure parts', () => {
  test('$(VAR) expansion follows Kubernetes', () => {
    const vars: Record<string, string> = { A: 'a', B: 'b' };
    const expand = (s: string): string => expandVariables(s, (n) => vars[n]);
    assert.equal(expand('$(A)-$(B)'), 'a-b');
    assert.equal(expand('$(MISSING)'), '$(MISSING)');
    assert.equal(expand('$$(A)'), '$(A)');
    assert.equal(expand('$(A'), '$(A');
    assert.equal(expand('$A $'), '$A $');
    assert.equal(expand('x$$$(A)'), 'x$a');
  });

  test('image references map to the image table', () => {
    assert.equal(imageRepository('docker.io/library/haproxy:lts'), 'docker.io/library/haproxy');
    assert.equal(imageRepository('localhost:5000/haproxy-peer-sync@sha256:abc'), 'localhost:5000/haproxy-peer-sync');
    assert.equal(findImage('haproxy:2.6')?.name, 'haproxy');
    assert.equal(findImage('docker.io/library/haproxy:lts')?.name, 'haproxy');
    assert.equal(findImage('ghcr.io/x/haproxy-peer-sync:1.0')?.name, 'haproxy-peer-sync');
    assert.equal(findImage(STICKY_BACKEND_IMAGE)?.name, 'sticky-backend');
    assert.equal(findImage('myhaproxy:1'), undefined);
  });

  test('command/args follow the runtime rules and the official HAProxy entrypoint', () => {
    const haproxy = findImage('haproxy:2.6');
    const ours = findImage('ghcr.io/haproxy-peer-sync/haproxy-peer-sync:0.1.0');
    assert.ok(haproxy !== undefined && ours !== undefined);
    const ctx = { podIP: '127.0.0.9', ownNetwork: false };
    const run = (image: typeof haproxy, command?: string[], args?: string[]): string[] | string => {
      const r = resolveArgv(image, imageArgv(image, command, args), ctx);
      return 'error' in r ? r.error : r.argv;
    };
    assert.deepEqual(run(haproxy), ['/usr/sbin/haproxy', '-W', '-db', '-f', '/usr/local/etc/haproxy/haproxy.cfg']);
    assert.deepEqual(run(haproxy, undefined, ['-f', '/x.cfg']), ['/usr/sbin/haproxy', '-W', '-db', '-f', '/x.cfg']);
    assert.deepEqual(run(haproxy, ['haproxy', '-W', '-f', '/x.cfg']), ['/usr/sbin/haproxy', '-W', '-f', '/x.cfg']);
    const cli = run(ours, ['haproxy-peer-sync', 'syncer'], ['--log-level=debug']);
    assert.ok(Array.isArray(cli));
    assert.match(cli[1] ?? '', /bin\/haproxy-peer-sync\.ts$/);
    assert.deepEqual(cli.slice(2), ['syncer', '--log-level=debug']);
    assert.deepEqual((run(ours, undefined, ['init']) as string[]).slice(2), ['init']);
    assert.match(run(ours, ['sh', '-c', 'true']) as string, /executable file not found in image haproxy-peer-sync/);
  });
});
