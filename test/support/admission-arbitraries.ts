/**
 * fast-check generators of AdmissionReviews for the webhook, shared by the property test
 * (webhook/admission-fuzz.test.ts, through the real server builder) and the dry-run check against the
 * real kube-apiserver (test/webhook-fuzz-apiserver.test.ts).
 *
 * {@link validPod} makes pods the apiserver accepts as they are (unique names, mounts of declared
 * volumes, preStop hooks only where allowed), in many shapes: labelled or not, our annotations valid
 * and invalid, HAProxy containers with and without command/args, user init containers and native
 * sidecars, volumes, pod and container securityContexts, grace periods. {@link admissionCase} wraps
 * such pods in reviews, and breaks some of them: a wrong JSON type at a field the webhook reads, a
 * review envelope that is not one, a body that is not JSON.
 * https://fast-check.dev/docs/core-blocks/arbitraries/
 */
import fc from 'fast-check';
import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';
import { ANNOTATIONS, INJECT_LABEL, NAMES, RUNTIME_DIR } from '../../webhook/annotations.ts';

const dnsLabel = fc.stringMatching(/^[a-z]([-a-z0-9]{0,10}[a-z0-9])?$/);
const HAPROXY_CONFIG = '/usr/local/etc/haproxy/haproxy.cfg';

/** Values for our annotations: mostly valid, now and then one the webhook must deny with a message. */
function annotationValue(key: string, containerNames: readonly string[], haproxy: string): fc.Arbitrary<string> {
  const mostly = (valid: fc.Arbitrary<string>, ...invalid: string[]): fc.Arbitrary<string> =>
    fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: fc.constantFrom(...invalid), weight: 1 });
  const port = fc
    .integer({ min: 1024, max: 65535 })
    .filter((n) => n !== 8585)
    .map(String);
  switch (key) {
    case ANNOTATIONS.service:
      return mostly(dnsLabel, 'Not_A_Service', '');
    case ANNOTATIONS.peersSection:
      return mostly(fc.constantFrom('haproxy-peers', 'tables', 'peers.1'), 'bad name');
    case ANNOTATIONS.peerPort:
      return mostly(port, '8585', 'abc', '0', '70000');
    case ANNOTATIONS.dataplaneapiPort:
      return mostly(port, 'x');
    case ANNOTATIONS.container:
      return mostly(fc.constant(haproxy), ...containerNames, 'no-such-container');
    case ANNOTATIONS.config:
      return mostly(fc.constantFrom(HAPROXY_CONFIG, '/etc/haproxy/haproxy.cfg'), 'relative.cfg', '/with space');
    case ANNOTATIONS.sidecarMode:
      return mostly(fc.constantFrom('native', 'regular'), 'sideways');
    case ANNOTATIONS.mode:
      return mostly(fc.constantFrom('direct', 'dataplaneapi'), 'other');
    case ANNOTATIONS.drainSeconds:
      return mostly(fc.constantFrom('0', '1', '5', '20'), '601', '-1', 'soon');
    case ANNOTATIONS.status:
      return fc.constant('injected; version=0.0.0-earlier');
    // An annotation added after this file was written: any string; the webhook must still answer.
    default:
      return fc.string({ maxLength: 20 });
  }
}

function annotations(
  containerNames: readonly string[],
  haproxy: string,
): fc.Arbitrary<Record<string, string> | undefined> {
  // Each of ours on about one pod in four (the status annotation, "already injected", on one in thirty).
  const ours = Object.values(ANNOTATIONS).map((key) =>
    fc.oneof(
      { arbitrary: fc.constant(undefined), weight: key === ANNOTATIONS.status ? 29 : 3 },
      { arbitrary: annotationValue(key, containerNames, haproxy).map((v) => [key, v] as const), weight: 1 },
    ),
  );
  const others = fc.dictionary(
    fc.constantFrom('example.com/owner', 'note', `${INJECT_LABEL}-typo`, 'haproxy-peer-sync.io/unknown'),
    fc.string({ maxLength: 30 }),
    { maxKeys: 2 },
  );
  return fc.tuple(fc.tuple(...ours), others, fc.boolean()).map(([pairs, extra, present]) => {
    const all = { ...extra, ...Object.fromEntries(pairs.filter((p) => p !== undefined)) };
    return present || Object.keys(all).length > 0 ? all : undefined;
  });
}

const labels = fc
  .record({
    inject: fc.oneof({ arbitrary: fc.constant('true'), weight: 8 }, fc.constantFrom(undefined, 'false', 'yes')),
    app: fc.option(dnsLabel, { nil: undefined, freq: 4 }),
    name: fc.option(dnsLabel, { nil: undefined, freq: 2 }),
  })
  .map(({ inject, app, name }) => {
    const l: Record<string, string> = {};
    if (inject !== undefined) l[INJECT_LABEL] = inject;
    if (app !== undefined) l['app'] = app;
    if (name !== undefined) l['app.kubernetes.io/name'] = name;
    return Object.keys(l).length > 0 ? l : undefined;
  });

/** A command line for the HAProxy container: none (the webhook writes one), haproxy's, or not haproxy. */
type Argv = { command?: string[]; args?: string[] };
const haproxyArgv = fc.oneof(
  {
    arbitrary: fc.constantFrom<Argv>(
      {},
      {},
      { command: ['haproxy', '-f', HAPROXY_CONFIG] },
      { command: ['/usr/local/sbin/haproxy', '-W', '-db', '-f', HAPROXY_CONFIG] },
      { command: ['haproxy'], args: ['-f', HAPROXY_CONFIG, '-f', '/etc/haproxy/extra.cfg'] },
      { args: ['-f', HAPROXY_CONFIG] },
      { args: ['-W', '-db', '-f', HAPROXY_CONFIG] },
    ),
    weight: 8,
  },
  // Command lines the webhook cannot rewrite: denied, naming the container.
  fc.constantFrom<Argv>(
    { command: ['docker-entrypoint.sh', 'haproxy', '-f', HAPROXY_CONFIG] },
    { command: ['sh', '-c', `exec haproxy -f ${HAPROXY_CONFIG}`] },
    { command: ['haproxy', '--', HAPROXY_CONFIG] },
  ),
);

const securityContext = fc.option(
  fc.record(
    {
      runAsUser: fc.constantFrom(0, 99, 1000, 65532),
      runAsGroup: fc.constantFrom(0, 99, 1000),
    },
    { requiredKeys: [] },
  ),
  { nil: undefined },
);

const env = fc
  .uniqueArray(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,8}$/), { maxLength: 3 })
  .chain((names) => fc.tuple(...names.map((name) => fc.string({ maxLength: 20 }).map((value) => ({ name, value })))));

/** A container; `index` keeps its port names unique in the pod; `volumes` are the pod's volume names. */
function container(
  name: string,
  index: number,
  volumes: readonly string[],
  haproxy: boolean,
  grace: number,
): fc.Arbitrary<V1Container> {
  return fc
    .record({
      argv: haproxy ? haproxyArgv : fc.constantFrom<Argv>({}, { command: ['sleep', '3600'] }, { args: ['--verbose'] }),
      env,
      mounts: fc.subarray([...volumes]),
      // Now and then a mount at our runtime dir, which the webhook must deny (the apiserver would not).
      runtimeMount: fc.constantFrom(false, false, false, false, false, false, false, true),
      ports: fc.subarray([0, 1, 2]),
      securityContext,
      preStop: fc.constantFrom(undefined, undefined, 'exec', 'sleep'),
      resources: fc.boolean(),
    })
    .map(({ argv, env, mounts, runtimeMount, ports, securityContext, preStop, resources }) => {
      const c: V1Container = { name, image: haproxy ? 'haproxy:3.0' : 'busybox:1.36', ...argv };
      if (env.length > 0) c.env = env;
      if (mounts.length > 0) {
        c.volumeMounts = mounts.map((v, i) => ({
          name: v,
          mountPath: runtimeMount && i === 0 ? RUNTIME_DIR : `/mnt/${v}`,
        }));
      }
      // Distinct ports and port names across the pod's containers.
      if (ports.length > 0)
        c.ports = ports.map((k) => ({ name: `p${index}-${k}`, containerPort: 8000 + index * 10 + k }));
      if (securityContext !== undefined) c.securityContext = securityContext;
      // The sleep action must fit in the grace period; the apiserver checks that.
      if (preStop === 'exec') c.lifecycle = { preStop: { exec: { command: ['sleep', '2'] } } };
      if (preStop === 'sleep' && grace >= 1) c.lifecycle = { preStop: { sleep: { seconds: Math.min(3, grace) } } };
      if (resources) c.resources = { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } };
      return c;
    });
}

/** A user init container; `native` makes it a native sidecar (restartPolicy Always, may have a preStop). */
function initContainer(name: string, volumes: readonly string[]): fc.Arbitrary<V1Container> {
  return fc
    .record({ native: fc.boolean(), mounts: fc.subarray([...volumes]), securityContext })
    .map(({ native, mounts, securityContext }) => {
      const c: V1Container = { name, image: 'busybox:1.36', command: native ? ['sleep', 'infinity'] : ['true'] };
      if (native) c.restartPolicy = 'Always';
      if (mounts.length > 0) c.volumeMounts = mounts.map((v) => ({ name: v, mountPath: `/init/${v}` }));
      if (securityContext !== undefined) c.securityContext = securityContext;
      return c;
    });
}

function volume(name: string): fc.Arbitrary<V1Volume> {
  return fc.constantFrom<V1Volume>(
    { name, emptyDir: {} },
    { name, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    { name, configMap: { name: 'haproxy-config', optional: true } },
  );
}

/**
 * A Pod the apiserver accepts as it is (no namespace: the caller puts it in one). Names are unique
 * where the apiserver requires it; our own names appear now and then, so the webhook's skip
 * ("already injected") and deny ("name taken") paths are reached too.
 */
export function validPod(): fc.Arbitrary<V1Pod> {
  const names = fc.uniqueArray(
    fc.oneof(
      { arbitrary: dnsLabel, weight: 60 },
      { arbitrary: fc.constant('haproxy'), weight: 20 },
      fc.constantFrom(NAMES.syncer, NAMES.init),
    ),
    { minLength: 1, maxLength: 5 },
  );
  return fc
    .record({
      names,
      containerCount: fc.integer({ min: 1, max: 3 }),
      haproxyAt: fc.nat(),
      volumeNames: fc.uniqueArray(fc.oneof({ arbitrary: dnsLabel, weight: 60 }, fc.constant(NAMES.volume)), {
        maxLength: 3,
      }),
      grace: fc.option(fc.integer({ min: 0, max: 120 }), { nil: undefined }),
      podName: fc.oneof(
        dnsLabel.map((n) => ({ name: `hp-${n}` })),
        fc.constant({ generateName: 'haproxy-' }),
      ),
      labels,
      podSecurity: fc.option(
        fc.record(
          {
            runAsUser: fc.constantFrom(0, 101, 1000),
            runAsGroup: fc.constantFrom(0, 101, 1000),
            fsGroup: fc.constantFrom(101, 2000),
            supplementalGroups: fc.subarray([1000, 2000, 65532]),
          },
          { requiredKeys: [] },
        ),
        { nil: undefined },
      ),
      serviceAccountName: fc.constantFrom(undefined, 'default'),
    })
    .chain((p) => {
      const count = Math.min(p.containerCount, p.names.length);
      const containerNames = p.names.slice(0, count);
      const initNames = p.names.slice(count);
      // HAProxy where the webhook looks for it (the container named haproxy, else the first), now and
      // then elsewhere: then only the container annotation finds it.
      const named = containerNames.indexOf('haproxy');
      const haproxyIndex = p.haproxyAt % 8 === 0 ? p.haproxyAt % count : Math.max(0, named);
      const grace = p.grace ?? 30;
      return fc
        .record({
          containers: fc.tuple(
            ...containerNames.map((n, i) => container(n, i, p.volumeNames, i === haproxyIndex, grace)),
          ),
          initContainers: fc.tuple(...initNames.map((n) => initContainer(n, p.volumeNames))),
          volumes: fc.tuple(...p.volumeNames.map(volume)),
          annotations: annotations(containerNames, containerNames[haproxyIndex] ?? 'haproxy'),
        })
        .map(({ containers, initContainers, volumes, annotations }): V1Pod => ({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            ...p.podName,
            ...(p.labels === undefined ? {} : { labels: p.labels }),
            ...(annotations === undefined ? {} : { annotations }),
          },
          spec: {
            containers,
            ...(initContainers.length > 0 ? { initContainers } : {}),
            ...(volumes.length > 0 ? { volumes } : {}),
            ...(p.podSecurity === undefined ? {} : { securityContext: p.podSecurity }),
            ...(p.grace === undefined ? {} : { terminationGracePeriodSeconds: p.grace }),
            ...(p.serviceAccountName === undefined ? {} : { serviceAccountName: p.serviceAccountName }),
          },
        }));
    });
}

/** Whether the pod asks for injection the way the webhook's contract says (the label, exactly "true"). */
export function isLabelled(pod: unknown): boolean {
  const labels = (pod as { metadata?: { labels?: Record<string, unknown> } } | null)?.metadata?.labels;
  return typeof labels === 'object' && labels !== null && labels[INJECT_LABEL] === 'true';
}

/** An `admission.k8s.io/v1` review of a pod CREATE, as the apiserver sends it. */
export function podReview(
  uid: string,
  object: unknown,
  request: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: 'fuzz',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
      ...request,
    },
  };
}

/** Paths the webhook reads (or writes next to), where a wrong JSON type is put. */
const READ_PATHS: ReadonlyArray<ReadonlyArray<string | number>> = [
  [],
  ['metadata'],
  ['metadata', 'labels'],
  ['metadata', 'labels', INJECT_LABEL],
  ['metadata', 'annotations'],
  ...Object.values(ANNOTATIONS).map((key) => ['metadata', 'annotations', key]),
  ['metadata', 'name'],
  ['metadata', 'generateName'],
  ['metadata', 'namespace'],
  ['spec'],
  ['spec', 'containers'],
  ['spec', 'containers', 0],
  ['spec', 'containers', 1],
  ['spec', 'containers', 0, 'name'],
  ['spec', 'containers', 0, 'command'],
  ['spec', 'containers', 0, 'command', 0],
  ['spec', 'containers', 0, 'args'],
  ['spec', 'containers', 0, 'args', 1],
  ['spec', 'containers', 0, 'env'],
  ['spec', 'containers', 0, 'env', 0],
  ['spec', 'containers', 0, 'env', 0, 'name'],
  ['spec', 'containers', 0, 'volumeMounts'],
  ['spec', 'containers', 0, 'volumeMounts', 0],
  ['spec', 'containers', 0, 'volumeMounts', 0, 'mountPath'],
  ['spec', 'containers', 0, 'ports', 0, 'containerPort'],
  ['spec', 'containers', 0, 'securityContext'],
  ['spec', 'containers', 0, 'securityContext', 'runAsUser'],
  ['spec', 'containers', 0, 'securityContext', 'runAsGroup'],
  ['spec', 'containers', 0, 'lifecycle'],
  ['spec', 'containers', 0, 'lifecycle', 'preStop'],
  ['spec', 'initContainers'],
  ['spec', 'initContainers', 0],
  ['spec', 'initContainers', 0, 'name'],
  ['spec', 'volumes'],
  ['spec', 'volumes', 0],
  ['spec', 'volumes', 0, 'name'],
  ['spec', 'securityContext'],
  ['spec', 'securityContext', 'runAsUser'],
  ['spec', 'securityContext', 'supplementalGroups'],
  ['spec', 'securityContext', 'supplementalGroups', 0],
  ['spec', 'terminationGracePeriodSeconds'],
  ['spec', 'serviceAccountName'],
  // Fields the webhook neither reads nor copies: anything may be there, the answer must not change.
  ['spec', 'affinity'],
  ['spec', 'tolerations', 0],
  ['metadata', 'ownerReferences'],
];

/** `depth` nested lists around 1. */
const nestedLists = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

/** Values of the wrong JSON type for any of {@link READ_PATHS}, including nesting over the limit. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  {
    arbitrary: fc.constantFrom(null, 0, -1, 1.5, 3, 2 ** 60, '', 'x', 'true', true, false, [], {}, [null], [3], ['x'], {
      name: 3,
    }),
    weight: 8,
  },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
  // JSON.stringify itself overflows a little past 1,000 levels: deeper bodies are in bad-input.test.ts.
  { arbitrary: fc.integer({ min: 50, max: 1000 }).map(nestedLists), weight: 1 },
);

/** A copy of `object` with `value` at `path`, creating what is missing on the way (lists for numbers). */
function setPath(object: unknown, path: ReadonlyArray<string | number>, value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string | number, ...Array<string | number>];
  const base: Record<string | number, unknown> =
    typeof head === 'number'
      ? ((Array.isArray(object) ? [...(object as unknown[])] : []) as unknown as Record<number, unknown>)
      : typeof object === 'object' && object !== null && !Array.isArray(object)
        ? { ...(object as Record<string, unknown>) }
        : {};
  base[head] = setPath(base[head], rest, value);
  return base;
}

/** How deep `value` nests lists and objects (a scalar: 0). */
export function nestingDepth(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let deepest = 0;
  for (const item of Object.values(value)) deepest = Math.max(deepest, nestingDepth(item));
  return deepest + 1;
}

/** A value for a failure message. */
const preview = (value: unknown): string => (JSON.stringify(value) ?? 'undefined').slice(0, 40);

/** One generated request, with what the test may expect of its answer. */
export interface AdmissionCase {
  /** How it was made, for a failure message. */
  readonly what: string;
  readonly body: string;
  readonly contentType: string;
  /** A well-formed review of nesting the webhook accepts: the answer must be a 200 review. */
  readonly wellFormed: boolean;
}

/** What the webhook accepts (webhook/review.ts MAX_JSON_DEPTH), restated: a test does not import its expectation. */
const DEPTH_LIMIT = 100;

const UUID = fc.uuid();

/** A valid pod in a review, mostly CREATE, sometimes another operation or a dry run. */
const validCase: fc.Arbitrary<AdmissionCase> = fc
  .record({
    pod: validPod(),
    uid: UUID,
    operation: fc.oneof(
      { arbitrary: fc.constant('CREATE'), weight: 12 },
      fc.constantFrom('UPDATE', 'DELETE', 'CONNECT'),
    ),
    dryRun: fc.boolean(),
  })
  .map(({ pod, uid, operation, dryRun }) => ({
    what: `valid pod, ${operation}${dryRun ? ', dry run' : ''}`,
    body: JSON.stringify(podReview(uid, pod, { operation, dryRun })),
    contentType: 'application/json',
    wellFormed: true,
  }));

/** A valid pod with one wrong JSON type where the webhook reads (or a field it ignores). */
const brokenPodCase: fc.Arbitrary<AdmissionCase> = fc
  .record({ pod: validPod(), uid: UUID, path: fc.constantFrom(...READ_PATHS), value: wrongValue })
  .map(({ pod, uid, path, value }) => {
    const review = podReview(uid, setPath(pod, path, value));
    return {
      what: `pod with ${preview(value)} at ${path.join('.') || '(the object)'}`,
      body: JSON.stringify(review),
      contentType: 'application/json',
      wellFormed: nestingDepth(review) <= DEPTH_LIMIT,
    };
  });

/** A review whose envelope is not one: a field missing or of the wrong type, an unknown operation. */
const brokenEnvelopeCase: fc.Arbitrary<AdmissionCase> = fc
  .record({
    pod: validPod(),
    uid: UUID,
    path: fc.constantFrom(
      ['kind'],
      ['apiVersion'],
      ['request'],
      ['request', 'uid'],
      ['request', 'kind'],
      ['request', 'kind', 'kind'],
      ['request', 'operation'],
      ['request', 'namespace'],
      ['request', 'name'],
      ['request', 'subResource'],
      ['request', 'dryRun'],
      ['request', 'resource'],
    ),
    value: fc.oneof(wrongValue, fc.string({ maxLength: 300 })),
  })
  .map(({ pod, uid, path, value }) => ({
    what: `review with ${preview(value)} at ${path.join('.')}`,
    body: JSON.stringify(setPath(podReview(uid, pod), path, value)),
    contentType: 'application/json',
    wellFormed: false,
  }));

/** A body that is not an AdmissionReview's JSON at all, or that says it is not JSON. */
const notJsonCase: fc.Arbitrary<AdmissionCase> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => ({
    what: 'any JSON value',
    body: JSON.stringify(v),
    contentType: 'application/json',
    wellFormed: false,
  })),
  fc
    .string({ maxLength: 200 })
    .map((s) => ({ what: 'any text as JSON', body: s, contentType: 'application/json', wellFormed: false })),
  fc
    .record({
      pod: validPod(),
      uid: UUID,
      contentType: fc.constantFrom(
        'text/plain',
        'application/yaml',
        'application/x-www-form-urlencoded',
        'application/jsonx',
        'multipart/form-data; boundary=x',
      ),
    })
    .map(({ pod, uid, contentType }) => ({
      what: `a review sent as ${contentType}`,
      body: JSON.stringify(podReview(uid, pod)),
      contentType,
      wellFormed: false,
    })),
);

/** Every kind of request, valid pods most often. */
export function admissionCase(): fc.Arbitrary<AdmissionCase> {
  return fc.oneof(
    { arbitrary: validCase, weight: 12 },
    { arbitrary: brokenPodCase, weight: 6 },
    { arbitrary: brokenEnvelopeCase, weight: 1 },
    { arbitrary: notJsonCase, weight: 1 },
  );
}
