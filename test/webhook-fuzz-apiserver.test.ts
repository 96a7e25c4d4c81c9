/**
 * The property test's valid pods against the REAL kube-apiserver: a seeded sample of generated pods
 * (test/support/admission-arbitraries.ts) is admitted by the webhook (the real server builder, through
 * app.inject), and every patched pod is created with `dryRun=All`, so the apiserver runs its defaulting,
 * validation and admission plugins on exactly what a user's pod would become, and stores nothing. Each
 * original pod is created the same way first: a rejection there is the generator's fault, not ours.
 * HPS_FUZZ_SEED replays a sample (the same variable as webhook/admission-fuzz.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import { startControlPlane, type ControlPlane } from './harness/control-plane.ts';
import { validPod, podReview } from './support/admission-arbitraries.ts';
import { build } from '../webhook/server.ts';
import { applyPatch, type Operation } from '../webhook/patch.ts';
import { StaticKeyPairSource } from '../certs/key-pair.ts';
import { silentLogger, TEST_CONFIG, testKeyPair } from './support/webhook.ts';

const NS = 'hps-fuzz';
const SEED = Number(process.env['HPS_FUZZ_SEED'] ?? 20261202);
const PODS = Number(process.env['HPS_FUZZ_APISERVER_PODS'] ?? 300);

let cp: ControlPlane | undefined;
let app: FastifyInstance | undefined;
let core: CoreV1Api;

before(async () => {
  cp = await startControlPlane();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await cp.createNamespace(NS);
  const keyPairs = new StaticKeyPairSource(testKeyPair());
  await keyPairs.start();
  app = await build({ config: TEST_CONFIG, logger: silentLogger(), keyPairs });
});

after(async () => {
  await app?.close();
  await cp?.stop();
});

/** The apiserver's reason for refusing a pod, or undefined when it accepts it (dry run). */
async function refusal(pod: V1Pod): Promise<string | undefined> {
  try {
    await core.createNamespacedPod({ namespace: NS, body: pod, dryRun: 'All' });
    return undefined;
  } catch (err) {
    const body = (err as { body?: unknown }).body;
    try {
      return (JSON.parse(String(body)) as { message: string }).message;
    } catch {
      return String(body ?? err);
    }
  }
}

/** The webhook's answer for `pod`: the patched pod, or undefined when it skipped or denied it. */
async function admit(pod: V1Pod, uid: string): Promise<V1Pod | undefined> {
  const res = await app!.inject({ method: 'POST', url: '/mutate', payload: podReview(uid, pod, { namespace: NS }) });
  assert.equal(res.statusCode, 200, res.body);
  const { response } = res.json<{ response: { uid: string; allowed: boolean; patch?: string } }>();
  assert.equal(response.uid, uid);
  if (response.patch === undefined) return undefined;
  return applyPatch(pod, JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[]);
}

test(`${PODS} generated pods (seed ${SEED}), as the webhook patches them, are accepted by the real apiserver (dryRun=All)`, async (t) => {
  const pods = fc
    .sample(validPod(), { seed: SEED, numRuns: PODS })
    .map((pod) => ({ ...pod, metadata: { ...pod.metadata, namespace: NS } }));
  const refused: string[] = [];
  let injected = 0;
  for (const [i, pod] of pods.entries()) {
    const what = `pod ${i} ${JSON.stringify(pod).slice(0, 300)}`;
    const original = await refusal(pod);
    assert.equal(original, undefined, `the generator made a pod the apiserver refuses: ${what}: ${original}`);
    const patched = await admit(pod, `fuzz-${i}`);
    if (patched === undefined) continue;
    injected++;
    const reason = await refusal(patched);
    if (reason !== undefined) refused.push(`${what}: ${reason}`);
  }
  t.diagnostic(`${injected} of ${pods.length} pods injected; ${refused.length} refused by the apiserver`);
  assert.deepEqual(refused.slice(0, 5), [], `${refused.length} injected pods refused by the apiserver`);
  // The sample reaches injection often enough for the check to mean something.
  assert.ok(injected >= PODS / 4, `only ${injected} of ${PODS} pods were injected`);
});
