import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Coalescer } from './coalescer.ts';
import { fakeTimers } from './test-timers.ts';

test('a burst fires once, a quiet window after the last change', async () => {
  const timers = fakeTimers();
  const fired: number[] = [];
  const c = new Coalescer({ quietMs: 200, maxMs: 1000, timers, fire: () => fired.push(timers.now()) });
  c.poke(); await timers.advance(50); c.poke(); await timers.advance(50); c.poke();
  await timers.advance(199);
  assert.deepEqual(fired, []);
  await timers.advance(1);
  assert.deepEqual(fired, [300]);
  assert.equal(c.pending, false);
});

test('a steady trickle still fires at the upper bound', async () => {
  const timers = fakeTimers();
  const fired: number[] = [];
  const c = new Coalescer({ quietMs: 200, maxMs: 1000, timers, fire: () => fired.push(timers.now()) });
  for (let i = 0; i < 12; i++) { c.poke(); await timers.advance(150); }
  assert.equal(fired[0], 1000);
  await timers.advance(1000);
  // The next burst starts at 1050; its last change is at 1650, so it fires a quiet window later.
  assert.deepEqual(fired, [1000, 1850]);
});

test('cancel drops the pending burst', async () => {
  const timers = fakeTimers();
  let fired = 0;
  const c = new Coalescer({ quietMs: 200, maxMs: 1000, timers, fire: () => { fired++; } });
  c.poke(); c.cancel(); await timers.advance(5000);
  assert.equal(fired, 0);
});
