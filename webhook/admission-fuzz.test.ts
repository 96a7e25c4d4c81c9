// Property-based admission test: thousands of generated AdmissionReviews (valid pods of many shapes,
// pods with a wrong JSON type where the webhook reads, reviews that are not reviews, bodies that are not
// JSON) through the real server builder with app.inject(). Seeded: the seed is printed, and
// HPS_FUZZ_SEED=<n> replays a run (HPS_FUZZ_RUNS=<n> changes its length; fast-check's failure message
// also gives the path to replay the one failing case).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { build } from './server.ts';
import { applyPatch, type Operation } from './patch.ts';
import { podShapeProblems } from './pod-shape.ts';
import { INJECT_LABEL } from './annotations.ts';
import { StaticKeyPairSource } from '../certs/key-pair.ts';
import { countedCodes } from '../common/errors.ts';
import { silentLogger, TEST_CONFIG, testKeyPair } from '../test/support/webhook.ts';
import { admissionCase, isLabelled, podReview, type AdmissionCase } from '../test/support/admission-arbitraries.ts';

const SEED = Number(process.env['HPS_FUZZ_SEED'] ?? 20261202);
const RUNS = Number(process.env['HPS_FUZZ_RUNS'] ?? 10_000);

const keyPairs = new StaticKeyPairSource(testKeyPair());
await keyPairs.start();
const app = await build({ config: TEST_CONFIG, logger: silentLogger(), keyPairs });
after(() => app.close());

interface Review {
  uid: string;
  allowed: boolean;
  patchType?: string;
  patch?: string;
  warnings?: string[];
  status?: { code: number; reason: string; message: string };
}

async function send(body: string, contentType: string): Promise<{ status: number; json: unknown }> {
  const res = await app.inject({
    method: 'POST',
    url: '/mutate',
    headers: { 'content-type': contentType },
    payload: body,
  });
  let json: unknown;
  try {
    json = res.json();
  } catch {
    json = res.body;
  }
  return { status: res.statusCode, json };
}

/** The request as sent, if the body is JSON with one. */
function sentRequest(body: string): { uid?: unknown; object?: unknown } | undefined {
  try {
    return (JSON.parse(body) as { request?: { uid?: unknown; object?: unknown } } | null)?.request;
  } catch {
    return undefined;
  }
}

const tally = { injected: 0, skipped: 0, denied: 0, unreadable: 0, httpError: 0 };

/** Every property of one answer; throws (an assertion) on the first one that does not hold. */
async function check(c: AdmissionCase): Promise<void> {
  const { status, json } = await send(c.body, c.contentType);
  assert.ok(status < 500, `${c.what}: HTTP ${status} ${JSON.stringify(json).slice(0, 300)}`);
  if (status !== 200) {
    assert.ok(
      !c.wellFormed,
      `${c.what}: a well-formed review got HTTP ${status}: ${JSON.stringify(json).slice(0, 300)}`,
    );
    const error = json as { error?: unknown; message?: unknown };
    assert.match(String(error.error), /^HPS_[A-Z_]+$/, `${c.what}: an HTTP error without our code`);
    assert.ok(
      typeof error.message === 'string' && error.message.length > 0,
      `${c.what}: an HTTP error without a message`,
    );
    tally.httpError++;
    return;
  }
  const review = json as { apiVersion: string; kind: string; response: Review };
  const sent = sentRequest(c.body);
  assert.equal(review.kind, 'AdmissionReview');
  assert.equal(review.response.uid, sent?.uid, `${c.what}: the response does not echo the request's uid`);
  const response = review.response;
  if (!response.allowed) {
    assert.ok(
      [400, 403].includes(response.status?.code ?? 0) && (response.status?.message ?? '') !== '',
      `${c.what}: a denial without a code and a message`,
    );
    assert.equal(response.patch, undefined);
    if (response.status?.code === 400) tally.unreadable++;
    else tally.denied++;
    return;
  }
  if (response.patch === undefined) {
    tally.skipped++;
    return;
  }
  tally.injected++;
  const pod = sent?.object as object;
  assert.ok(isLabelled(pod), `${c.what}: a pod without the label ${INJECT_LABEL}: "true" got a patch`);
  assert.equal(response.patchType, 'JSONPatch');
  const operations = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
  // Applies to the pod as sent (validating each operation as the apiserver does), and the result is a Pod.
  const patched = applyPatch(pod, operations);
  assert.deepEqual(podShapeProblems(patched), [], `${c.what}: the patched pod is not shaped like a Pod`);
  // Admitted again (reinvocation, a second registration): nothing more is added.
  const uid = `again-${String(sent?.uid)}`;
  const again = await send(JSON.stringify(podReview(uid, patched)), 'application/json');
  assert.equal(again.status, 200);
  const second = (again.json as { response: Review }).response;
  assert.equal(second.uid, uid);
  assert.equal(second.allowed, true, `${c.what}: the patched pod was denied: ${second.status?.message ?? ''}`);
  assert.equal(second.patch, undefined, `${c.what}: admitting the patched pod patched it again`);
}

test(`${RUNS} generated AdmissionReviews: no 5xx, the uid echoed, every patch applies once, unlabelled pods untouched (seed ${SEED})`, async (t) => {
  t.diagnostic(`seed ${SEED}, ${RUNS} runs (replay: HPS_FUZZ_SEED=${SEED} HPS_FUZZ_RUNS=${RUNS})`);
  await fc.assert(fc.asyncProperty(admissionCase(), check), { seed: SEED, numRuns: RUNS });
  t.diagnostic(`answers: ${JSON.stringify(tally)}`);
  // The generator reaches every kind of answer, in numbers (else the properties above proved little).
  for (const [outcome, n] of Object.entries(tally))
    assert.ok(n >= RUNS / 50, `only ${n} ${outcome} answers in ${RUNS} runs`);

  // The webhook kept serving, and no label value of its metrics came from a request unchecked: the
  // runs above sent hundreds of distinct operations, kinds and error bodies.
  assert.equal((await app.inject('/healthz')).statusCode, 200);
  const metrics = (await app.inject('/metrics')).body;
  const values = (name: string, label: string): string[] =>
    [...metrics.matchAll(new RegExp(`^haproxy_peer_sync_webhook_${name}\\{${label}="([^"]*)"`, 'gm'))].map(
      (m) => m[1] ?? '',
    );
  assert.deepEqual(
    values('admission_requests_total', 'operation').filter(
      (v) => !['CREATE', 'UPDATE', 'DELETE', 'CONNECT', 'invalid', 'other'].includes(v),
    ),
    [],
  );
  const known = new Set<string>([...countedCodes('webhook'), 'other']);
  assert.deepEqual(
    values('errors_total', 'code').filter((v) => !known.has(v)),
    [],
  );
});
