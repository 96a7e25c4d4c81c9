import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Coalescer, type Timers } from './coalescer.ts';

/** A fake clock: timers fire only when the test advances time. */
function fakeTimers(): Timers & { advance(ms: number): void } {
  let now = 0;
  let next = 1;
  const pending = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout: (fn, ms) => { const id = next++; pending.set(id, { at: now + ms, fn }); return id; },
    clearTimeout: (h) => { pending.delete(h as number); },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...pending.entries()].filter(([, t]) => t.at <= end).sort((x, y) => x[1].at - y[1].at)[0];
        if (!due) break;
        pending.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = end;
    },
  };
}

test('a burst fires once, a quiet window after the last change', () => {
  const timers = fakeTimers();
  const fired: number[] = [];
  const c = new Coalescer({ quietMs: 200, maxMs: 1000, timers, fire: () => fired.push(timers.now()) });
  c.poke(); timers.advance(50); c.poke(); timers.advance(50); c.poke();
  timers.advance(199);
  assert.deepEqual(fired, []);
  timers.advance(1);
  assert.deepEqual(fired, [300]);
  assert.equal(c.pending, false);
});

test('a steady trickle still fires at the upper bound', () => {
  const timers = fakeTimers();
  const fired: number[] = [];
  const c = new Coalescer({ quietMs: 200, maxMs: 1000, timers, fire: () => fired.push(timers.now()) });
  for (let i = 0; i < 12; i++) { c.poke(); timers.advance(150); }
  assert.equal(fired[0], 1000);
  timers.advance(1000);
  // The next burst starts at 1050; its last change is at 1650, so it fires a quiet window later.
  assert.deepEqual(fired, [1000, 1850]);
});

test('cancel drops the pending burst', () => {
  const timers = fakeTimers();
  let fired = 0;
  const c = new Coalescer({ quietMs: 200, maxMs: 1000, timers, fire: () => { fired++; } });
  c.poke(); c.cancel(); timers.advance(5000);
  assert.equal(fired, 0);
});
