// Denied injections reported on the pod's owner: through the real server builder (app.inject), the
// poster the webhook subscribes is handed one report per denial, for the pod's controller owner only,
// never for a dry run; the admission answer is the same with or without a subscriber.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { build } from './server.ts';
import { StaticKeyPairSource } from '../certs/key-pair.ts';
import type { EventReport } from '../common/events.ts';
import { deniedSubject, reportDenials } from './events.ts';
import { podReview, silentLogger, TEST_CONFIG, testKeyPair } from '../test/support/webhook.ts';
import type { AdmissionRequest } from './review.ts';

const keyPairs = new StaticKeyPairSource(testKeyPair());
await keyPairs.start();
const app = await build({ config: TEST_CONFIG, logger: silentLogger(), keyPairs });
after(() => app.close());

const OWNER = {
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  name: 'haproxy-7d9c',
  uid: '6f1c2b3a-0000-4000-8000-000000000001',
  controller: true,
  blockOwnerDeletion: true,
};
const pod = (annotations: Record<string, string>, owners: unknown[] = [OWNER]): V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    generateName: 'haproxy-7d9c-',
    namespace: 'web',
    labels: { app: 'haproxy', 'haproxy-peer-sync.io/inject': 'true' },
    annotations,
    ownerReferences: owners as V1Pod['metadata'] extends { ownerReferences?: infer O } ? O : never,
  },
  spec: { containers: [{ name: 'haproxy', image: 'haproxy:3.0' }] },
});
const BAD = { 'haproxy-peer-sync.io/peer-port': 'abc' };

async function admit(p: V1Pod, request: Record<string, unknown> = {}): Promise<{ allowed: boolean; message?: string }> {
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: podReview(p, request) });
  const r = res.json<{ response: { allowed: boolean; status?: { message: string } } }>().response;
  return { allowed: r.allowed, ...(r.status === undefined ? {} : { message: r.status.message }) };
}

test("a denied pod is reported once, on its controller owner in the request's namespace, with the denial as the note", async () => {
  const reports: EventReport[] = [];
  const unsubscribe = reportDenials((r) => {
    reports.push(r);
    return true;
  });
  try {
    const denied = await admit(pod(BAD));
    assert.equal(denied.allowed, false);
    assert.equal(reports.length, 1);
    const [r] = reports;
    assert.deepEqual(r?.subject, {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      name: 'haproxy-7d9c',
      namespace: 'web',
      uid: OWNER.uid,
    });
    assert.deepEqual([r?.reason, r?.type, r?.action], ['InjectionDenied', 'Warning', 'Inject']);
    assert.equal(r?.note, `haproxy-peer-sync denied a pod of this workload: ${denied.message}`);
    assert.match(r?.note ?? '', /peer-port/);

    // Injected, dry-run, ownerless: nothing to report.
    assert.equal((await admit(pod({}))).allowed, true);
    assert.equal((await admit(pod(BAD), { dryRun: true })).allowed, false);
    assert.equal((await admit(pod(BAD, []))).allowed, false);
    assert.equal((await admit(pod(BAD, [{ ...OWNER, controller: false }]))).allowed, false);
    assert.equal(reports.length, 1);
  } finally {
    unsubscribe();
  }
  // No subscriber: the same answer, nothing published anywhere.
  assert.equal((await admit(pod(BAD))).allowed, false);
  assert.equal(reports.length, 1);
});

test('owner fields that are not strings, or a namespace that is not a namespace name, give no subject', () => {
  const req = (object: unknown, namespace: string | undefined = 'web'): AdmissionRequest => ({
    uid: 'u',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    operation: 'CREATE',
    namespace,
    object,
  });
  const withOwners = (owners: unknown): unknown => ({ metadata: { ownerReferences: owners } });
  assert.ok(deniedSubject(req(withOwners([OWNER]))));
  for (const bad of [
    withOwners([{ ...OWNER, name: 7 }]),
    withOwners([{ ...OWNER, uid: {} }]),
    withOwners({ 0: OWNER }),
    withOwners([null, 3]),
    { metadata: null },
    null,
  ]) {
    assert.equal(deniedSubject(req(bad)), undefined, JSON.stringify(bad));
  }
  assert.equal(deniedSubject(req(withOwners([OWNER]), 'Not/A-Namespace')), undefined);
  assert.equal(deniedSubject({ ...req(withOwners([OWNER])), namespace: undefined }), undefined);
});
