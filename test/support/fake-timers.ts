// Test support for the syncer's and common/'s unit tests (the reconciler, the coalescer, poll()).
import type { Timers } from '../../syncer/coalescer.ts';

/**
 * A fake clock: timers fire only when the test advances time, in order of their due time. Between
 * firings pending promise callbacks run, so async code driven by the timers settles as it would.
 */
export function fakeTimers(): Timers & { advance(ms: number): Promise<void> } {
  let now = 0;
  let next = 1;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = next++;
      pending.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout: (h) => {
      pending.delete(h as number);
    },
    async advance(ms) {
      const end = now + ms;
      await settle();
      for (;;) {
        const due = [...pending.entries()].filter(([, t]) => t.at <= end).sort((x, y) => x[1].at - y[1].at)[0];
        if (!due) break;
        pending.delete(due[0]);
        now = due[1].at;
        due[1].fn();
        await settle();
      }
      now = end;
    },
  };
}
