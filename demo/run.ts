import * as k8s from '@kubernetes/client-node';
import { EXAMPLE_NAMESPACE, EXAMPLE_TABLE, type ReplicaState, type Sandbox } from '../test/harness/sandbox.ts';
import { converged, renderScreen } from './screen.ts';

/** How many stick-table entries the demo writes before it starts scaling. */
export const DEMO_ENTRIES = 200;
const STEP_TIMEOUT_MS = 180_000;

export interface DemoOutput {
  /** A line meant to stay (the KUBECONFIG line, step results). */
  line(text: string): void;
  /** The live screen, redrawn in place on a terminal. */
  screen(text: string): void;
}

interface Step {
  readonly title: string;
  readonly explanation: readonly string[];
  readonly replicas: number;
  readonly act: (s: Sandbox) => Promise<unknown>;
}

const STEPS: readonly Step[] = [
  {
    title: 'scale 3 → 5',
    replicas: 5,
    act: (s) => s.kubectl('scale', 'deployment/haproxy', '--replicas=5'),
    explanation: [
      'Two new replicas start. Their syncer writes the full peers section before HAProxy starts,',
      'so each new HAProxy is taught the whole table by a running peer; the others reload once to add them.',
    ],
  },
  {
    title: 'scale 5 → 2',
    replicas: 2,
    act: (s) => s.kubectl('scale', 'deployment/haproxy', '--replicas=2'),
    explanation: [
      'Three replicas stop. The survivors drop them from their peers section in one reload,',
      'keeping every entry.',
    ],
  },
  {
    title: 'rolling update (kubectl rollout restart)',
    replicas: 2,
    act: (s) => s.kubectl('rollout', 'restart', 'deployment/haproxy'),
    explanation: [
      "Every replica is replaced, with the Deployment's defaults (no minReadySeconds).",
      'A new replica is Ready only once it has been taught the table, so the old ones can leave safely.',
    ],
  },
];

const TITLE = 'haproxy-peer-sync demo — HAProxy replicas sharing one stick-table through the peers section';

/**
 * The demo's story on a running sandbox: install the webhook from deploy/, apply examples/, write
 * entries, then (unless `waitOnly`) scale 3 → 5 → 2 and roll the Deployment, showing each replica's
 * peers and table size live. Returns when the story is told; the caller decides how long to linger.
 */
export async function runDemo(
  s: Sandbox,
  out: DemoOutput,
  opts: { waitOnly: boolean; signal: AbortSignal; hostKubeconfig?: string },
): Promise<void> {
  if (opts.hostKubeconfig !== undefined) {
    out.line(`KUBECONFIG=${opts.hostKubeconfig}`);
    out.line(`(from another terminal: KUBECONFIG=${opts.hostKubeconfig} kubectl get pods -o wide)`);
  }

  const show = async (step: string, explanation: readonly string[], expected: number): Promise<ReplicaState[]> => {
    const replicas = (await s.replicas()).filter((r) => !r.terminating || r.peers !== undefined);
    out.screen(renderScreen({ title: TITLE, step, explanation, replicas, expectedEntries: expected }));
    return replicas;
  };
  const settle = async (
    step: string,
    explanation: readonly string[],
    want: number,
    entries: number,
  ): Promise<number> => {
    const began = Date.now();
    while (Date.now() - began < STEP_TIMEOUT_MS) {
      opts.signal.throwIfAborted();
      const replicas = await show(step, explanation, entries);
      const live = replicas.filter((r) => !r.terminating);
      if (
        live.length === want &&
        live.length === replicas.length &&
        converged(live) &&
        live.every((r) => (r.tableEntries ?? 0) >= entries)
      ) {
        return Date.now() - began;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`"${step}" did not converge within ${STEP_TIMEOUT_MS / 1000} s`);
  };

  await show(
    'installing the webhook (kubectl apply -k deploy/)',
    ['Two webhook replicas share one CA through a Secret and publish it as the caBundle.'],
    0,
  );
  await s.installWebhook();
  await show(
    'applying examples/ (sticky backend, 3 labelled HAProxy replicas, front load balancer)',
    ['The webhook injects the syncer sidecar, its init container and a shared volume into each replica.'],
    0,
  );
  await s.applyExamples();
  const first = await settle(
    '3 replicas converging',
    ['Each syncer turns the EndpointSlices of the headless Service into peers.'],
    3,
    0,
  );
  out.line(`3 replicas converged ${(first / 1000).toFixed(1)} s after the manifests were applied`);

  const writer = (await s.replicas()).find((r) => !r.terminating);
  if (writer === undefined) throw new Error('no HAProxy replica to write entries to');
  for (let i = 0; i < DEMO_ENTRIES; i++) {
    await s.masterCli(EXAMPLE_NAMESPACE, writer.pod, `@1 set table ${EXAMPLE_TABLE} key demo-session-${i}`);
  }
  out.line(
    `${DEMO_ENTRIES} entries written to ${writer.pod}'s table "${EXAMPLE_TABLE}"; peers replicate them to every replica`,
  );
  await settle('entries replicating', ['Peers push every new entry to every other replica.'], 3, DEMO_ENTRIES);
  out.line(await stickiness(s));

  if (opts.waitOnly) {
    out.line('set up; drive it yourself with kubectl (scale, rollout restart, delete pods); Ctrl-C stops everything');
    for (;;) {
      await show(
        'waiting for you (Ctrl-C stops everything)',
        ['Scale or roll deployment/haproxy and watch the peers follow.'],
        DEMO_ENTRIES,
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      opts.signal.throwIfAborted();
    }
  }
  for (const step of STEPS) {
    await step.act(s);
    const ms = await settle(step.title, step.explanation, step.replicas, DEMO_ENTRIES);
    out.line(
      `${step.title}: converged in ${(ms / 1000).toFixed(1)} s, every replica holds all ${DEMO_ENTRIES} entries`,
    );
  }
  out.line(await stickiness(s));
}

/** Sends a few requests per session key through the front load balancer and reports who served them. */
async function stickiness(s: Sandbox): Promise<string> {
  const core = s.controlPlane.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const lb = (
    await core.listNamespacedPod({ namespace: EXAMPLE_NAMESPACE, labelSelector: 'app.kubernetes.io/name=lb' })
  ).items.find((p) => p.status?.podIP);
  if (lb?.status?.podIP === undefined) return 'front load balancer not running yet';
  // The load balancer finds the HAProxy replicas through DNS, polled every second: give it a moment.
  const url = `http://${lb.status.podIP}:8080/`;
  for (let i = 0; i < 30; i++) {
    const res = await fetch(url).catch(() => undefined);
    await res?.body?.cancel();
    if (res?.ok) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const parts: string[] = [];
  for (const session of ['alice', 'bob', 'carol']) {
    const served = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const res = await fetch(url, { headers: { 'x-session-id': session } }).catch(() => undefined);
      served.add(res?.headers.get('x-served-by') ?? `error ${res?.status ?? 'no answer'}`);
      await res?.body?.cancel();
    }
    parts.push(`${session} → ${[...served].join(', ')}`);
  }
  return `sticky sessions through the load balancer (6 requests each, spread over the HAProxy replicas): ${parts.join('; ')}`;
}
