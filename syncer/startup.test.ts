import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateGate, type StartupGateOptions } from './startup.ts';
import type { Peer } from './peers.ts';

const peer = (name: string, ready: boolean): Peer => ({ name, host: '10.0.0.9', port: 10000, ready });
const opts = (over: Partial<StartupGateOptions>): StartupGateOptions => ({
  localName: 'me',
  desired: () => [peer('me', false), peer('a', true), peer('b', false)],
  probe: async () => 200,
  haproxyRunning: async () => false,
  now: () => 0,
  maxWaitMs: 30_000,
  ...over,
});

test('opens once every ready replica accepts our name; not-ready ones are not asked', async () => {
  const asked: string[] = [];
  const v = await evaluateGate(
    opts({
      probe: async (p) => {
        asked.push(p.name);
        return 200;
      },
    }),
    0,
  );
  assert.equal(v.open, true);
  assert.deepEqual(asked, ['a']);
});

test('stays closed while a ready replica answers UNKN (504) or nothing, until the bound', async () => {
  const closed = await evaluateGate(opts({ probe: async () => 504 }), 0);
  assert.deepEqual(closed, { open: false, reason: 'not yet declared by: a(504)' });
  const late = await evaluateGate(opts({ probe: async () => undefined, now: () => 30_000 }), 0);
  assert.equal(late.open, true);
  assert.match(late.reason, /gave up.*a\(no answer\)/);
});

test('opens at once when HAProxy already runs or no other replica is ready; waits for the first list', async () => {
  assert.equal((await evaluateGate(opts({ haproxyRunning: async () => true, probe: async () => 504 }), 0)).open, true);
  assert.equal((await evaluateGate(opts({ desired: () => [peer('me', false), peer('b', false)] }), 0)).open, true);
  assert.equal((await evaluateGate(opts({ desired: () => undefined }), 0)).open, false);
});
