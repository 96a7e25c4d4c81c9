// The poll loop on a fake clock: when passes run, what a failure does to the next wait, and what stop
// waits for. Nothing sleeps for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { backoffDelay, poll } from './poll.ts';
import { fakeTimers as fakeClock } from '../test/support/fake-timers.ts';

/** A pass the test finishes by hand, to hold it "in flight". */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('passes run one interval apart, the first one interval after start unless immediate', async () => {
  const clock = fakeClock();
  const at: number[] = [];
  const p = poll(
    async () => {
      at.push(clock.now());
    },
    { intervalMs: 100, timers: clock },
  );
  p.start();
  p.start(); // a second start changes nothing
  await clock.advance(350);
  assert.deepEqual(at, [100, 200, 300]);
  await p.stop();

  const soon: number[] = [];
  const q = poll(
    async () => {
      soon.push(clock.now());
    },
    { intervalMs: 100, immediate: true, timers: clock },
  );
  q.start();
  await clock.advance(150);
  assert.deepEqual(soon, [350, 450]);
  await q.stop();
});

test('the next pass is scheduled from the end of the previous one: a slow pass never overlaps the next', async () => {
  const clock = fakeClock();
  const started: number[] = [];
  let running = 0;
  let overlapped = false;
  const p = poll(
    async () => {
      started.push(clock.now());
      running++;
      if (running > 1) overlapped = true;
      await new Promise<void>((resolve) => clock.setTimeout(resolve, 250)); // the pass itself takes 250 ms
      running--;
    },
    { intervalMs: 100, timers: clock },
  );
  p.start();
  await clock.advance(1100); // the third pass ends at 1050: none is in flight (stop would wait for it)
  assert.equal(overlapped, false);
  assert.deepEqual(started, [100, 450, 800]); // 100 + 250 + 100, and so on
  await p.stop();
});

test('failures back off exponentially up to the cap; a success returns to the interval', async () => {
  const clock = fakeClock();
  const at: number[] = [];
  const waits: number[] = [];
  let failing = 4;
  const p = poll(
    async () => {
      at.push(clock.now());
      if (failing-- > 0) throw new Error('apiserver unavailable');
    },
    {
      intervalMs: 1000,
      backoff: { baseMs: 100, maxMs: 500 },
      timers: clock,
      onError: (_err, retryInMs) => waits.push(retryInMs),
    },
  );
  p.start();
  await clock.advance(3000);
  assert.deepEqual(waits, [100, 200, 400, 500]);
  // 1000: fail, +100 fail, +200 fail, +400 fail, +500 success, then every 1000 again.
  assert.deepEqual(at, [1000, 1100, 1300, 1700, 2200]);
  await clock.advance(1000);
  assert.deepEqual(at.slice(-1), [3200]);
  await p.stop();
});

test('without a backoff a failed pass is retried after the interval, and the error is handed over as it is', async () => {
  const clock = fakeClock();
  const errors: string[] = [];
  const p = poll(
    async () => {
      throw new Error('no such file');
    },
    { intervalMs: 100, timers: clock, onError: (err, retryInMs) => errors.push(`${err.message} ${retryInMs}`) },
  );
  p.start();
  await clock.advance(250);
  assert.deepEqual(errors, ['no such file 100', 'no such file 100']);
  await p.stop();
});

test('a pass returning "done" ends the loop: a retry that finally succeeded', async () => {
  const clock = fakeClock();
  let attempts = 0;
  let ended = false;
  const p = poll(
    async () => {
      attempts++;
      if (attempts < 3) throw new Error('not yet');
      return 'done';
    },
    { intervalMs: 0, immediate: true, backoff: { baseMs: 500, maxMs: 30_000 }, timers: clock },
  );
  void p.ended.then(() => {
    ended = true;
  });
  p.start();
  await clock.advance(10_000);
  assert.equal(attempts, 3);
  assert.equal(ended, true);
  await clock.advance(60_000);
  assert.equal(attempts, 3, 'no pass after the one that said done');
});

test('poke runs a pass at once when idle, and right after the running one otherwise', async () => {
  const clock = fakeClock();
  const at: number[] = [];
  let hold: ReturnType<typeof deferred> | undefined;
  const p = poll(
    async () => {
      at.push(clock.now());
      if (hold !== undefined) await hold.promise;
    },
    { intervalMs: 1000, timers: clock },
  );
  p.poke(); // before start: ignored
  p.start();
  await clock.advance(10);
  p.poke();
  await clock.advance(0);
  assert.deepEqual(at, [10]);
  hold = deferred();
  p.poke(); // a pass starts and is held
  await clock.advance(0);
  p.poke();
  p.poke(); // several pokes during a pass make one more pass, not several
  await clock.advance(0);
  assert.deepEqual(at, [10, 10]);
  const held = hold;
  hold = undefined;
  held.resolve();
  await clock.advance(0);
  assert.deepEqual(at, [10, 10, 10]);
  await clock.advance(1000);
  assert.deepEqual(at, [10, 10, 10, 1010], 'then the interval again, counted from the last pass');
  await p.stop();
});

test('stop waits for the pass in flight, and no pass starts after it', async () => {
  const clock = fakeClock();
  const hold = deferred();
  let passes = 0;
  let finished = false;
  const p = poll(
    async () => {
      passes++;
      await hold.promise;
      finished = true;
    },
    { intervalMs: 100, timers: clock },
  );
  p.start();
  await clock.advance(100);
  assert.equal(passes, 1);
  let stopped = false;
  const stopping = p.stop().then(() => {
    stopped = true;
  });
  await clock.advance(0);
  assert.equal(stopped, false, 'stop has not returned while the pass runs');
  hold.resolve();
  await stopping;
  assert.equal(finished, true);
  await clock.advance(1000);
  assert.equal(passes, 1);
  p.start(); // a stopped poll stays stopped
  p.poke();
  await clock.advance(1000);
  assert.equal(passes, 1);
});

test('a pass that fails while stop waits for it is reported, and nothing is scheduled after it', async () => {
  const clock = fakeClock();
  const hold = deferred();
  const errors: string[] = [];
  let passes = 0;
  const p = poll(
    () => {
      passes++;
      return hold.promise;
    },
    { intervalMs: 100, timers: clock, onError: (err) => errors.push(err.message) },
  );
  p.start();
  await clock.advance(100);
  const stopping = p.stop();
  hold.reject(new Error('connection reset'));
  await stopping;
  assert.deepEqual(errors, ['connection reset']);
  await clock.advance(1000);
  assert.equal(passes, 1, 'no retry after stop');
});

test('backoffDelay doubles from the base and stops at the cap', () => {
  const b = { baseMs: 500, maxMs: 30_000 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => backoffDelay(n, b)),
    [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000],
  );
});

test('with the real timers a waiting poll does not keep the process alive', () => {
  // A process whose only work left is a poll an hour away must exit at once (and with 0).
  const script = `import { poll } from ${JSON.stringify(new URL('./poll.ts', import.meta.url).href)};
    poll(async () => { process.exitCode = 3; }, { intervalMs: 3_600_000 }).start();`;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(res.signal, null, 'it exited by itself');
  assert.equal(res.status, 0, res.stderr);
});
