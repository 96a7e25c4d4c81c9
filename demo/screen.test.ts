import { test } from 'node:test';
import assert from 'node:assert/strict';
import { converged, renderScreen, type ReplicaView } from './screen.ts';

const replica = (pod: string, peers: [string, string][], ready = true): ReplicaView => ({
  pod,
  ip: '127.0.0.10',
  ready,
  tableEntries: 5,
  reloads: 1,
  peers: [
    { name: pod, local: true, status: 'NONE' },
    ...peers.map(([name, status]) => ({ name, local: false, status })),
  ],
});

test('converged needs every replica ready and linked to every other one', () => {
  const a = replica('a', [['b', 'ESTA']]);
  const b = replica('b', [['a', 'ESTA']]);
  assert.equal(converged([a, b]), true);
  assert.equal(converged([a, replica('b', [['a', 'UNKN']])]), false);
  assert.equal(
    converged([
      a,
      replica('b', [
        ['a', 'ESTA'],
        ['gone', 'CONN'],
      ]),
    ]),
    false,
  );
  assert.equal(converged([a, replica('b', [['a', 'ESTA']], false)]), false);
  assert.equal(converged([]), false);
});

test('the screen lists each replica with its table size and links', () => {
  const text = renderScreen({
    title: 'T',
    step: 'scale 3 → 5',
    explanation: ['why'],
    expectedEntries: 5,
    replicas: [replica('b', [['a', 'ESTA']]), replica('a', [['b', 'ESTA']])],
  });
  assert.match(text, /▶ scale 3 → 5/);
  assert.match(text, /a\s+127\.0\.0\.10\s+yes\s+5\/5\s+1\s+b:ESTA/);
  assert.ok(text.indexOf('  a ') < text.indexOf('  b '), 'sorted by pod name');
  assert.match(text, /✔ converged/);
});
