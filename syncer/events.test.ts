import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { podUid, syncerEvent } from './events.ts';
import { ERRORS } from '../common/errors.ts';

test('a rejected or unconfirmed reload, a refused HAProxy version and an untaught resync are Warning Events; other errors are not', () => {
  assert.equal(
    syncerEvent({
      kind: 'error',
      code: ERRORS.HPS_RELOAD_FAILED.code,
      message: 'HAProxy 3.0.11 rejected the configuration: [ALERT] x',
    })?.reason,
    'ReloadFailed',
  );
  assert.equal(
    syncerEvent({ kind: 'error', code: ERRORS.HPS_RELOAD_FAILED.code, message: 'rejected: [ALERT] x' })?.note,
    `${ERRORS.HPS_RELOAD_FAILED.code}: rejected: [ALERT] x`,
  );
  assert.equal(
    syncerEvent({ kind: 'error', code: ERRORS.HPS_RELOAD_TIMEOUT.code, message: 'not confirmed' })?.reason,
    'ReloadFailed',
  );
  assert.equal(
    syncerEvent({ kind: 'error', code: ERRORS.HPS_HAPROXY_VERSION.code, message: 'HAProxy 9.9 unknown' })?.reason,
    'UnsupportedHaproxyVersion',
  );
  const untaught = syncerEvent({ kind: 'untaught', reason: 'resync timed out without a teacher' });
  assert.equal(untaught?.reason, 'ResyncTimedOut');
  assert.match(untaught?.note ?? '', /delete the pod/);
  for (const e of [untaught, syncerEvent({ kind: 'error', code: ERRORS.HPS_RELOAD_FAILED.code, message: '' })])
    assert.equal(e?.type, 'Warning');
  // Passing trouble the syncer retries by itself (the apiserver, the socket) is for logs and metrics.
  assert.equal(syncerEvent({ kind: 'error', code: ERRORS.HPS_KUBE_API.code, message: 'x' }), undefined);
  assert.equal(syncerEvent({ kind: 'error', code: ERRORS.HPS_HAPROXY_SOCKET.code, message: 'x' }), undefined);
  assert.equal(syncerEvent({ kind: 'reloaded' }), undefined);
});

test("the pod's UID comes from its own endpoint's targetRef, in whichever slice holds it", () => {
  const slice = (names: string[]): V1EndpointSlice => ({
    addressType: 'IPv4',
    endpoints: names.map((n, i) => ({
      addresses: [`10.0.0.${i + 1}`],
      targetRef: { kind: 'Pod', name: n, namespace: 'default', uid: `uid-${n}` },
    })),
  });
  assert.equal(podUid([slice(['a', 'b']), slice(['c'])], 'c'), 'uid-c');
  assert.equal(podUid([slice(['a'])], 'c'), undefined);
  assert.equal(podUid(undefined, 'a'), undefined);
});
