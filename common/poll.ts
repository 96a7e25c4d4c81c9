/**
 * One background loop for every "do this again later" in the project: re-reading certificate files or
 * the certificate Secret, re-checking the webhook configuration's caBundle, retrying the first key pair.
 *
 * - The next pass is scheduled only once the previous one has finished, so passes never overlap and a
 *   slow pass (an apiserver taking its time) is not stacked up behind itself.
 * - A failed pass (a rejection) is retried after a backoff — base·2^(failures−1), capped — and a
 *   success goes back to the regular interval.
 * - `poke()` asks for a pass now: at once when idle, right after the running pass otherwise.
 * - The timer is unref'd: a poll never keeps a process alive on its own.
 * - `stop()` resolves once a pass in flight has finished, so its caller can close what the pass uses.
 * The clock is passed in, so the loop is tested without real sleeps.
 */

/** The timer functions the loop uses; the default is Node's, with the timer unref'd. */
export interface PollTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const nodeTimers: PollTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export interface PollOptions {
  /** Time between the end of a successful pass and the start of the next. */
  readonly intervalMs: number;
  /** After a failed pass: wait baseMs·2^(failures−1), at most maxMs (default: the interval, no backoff). */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number } | undefined;
  /** Run the first pass at start (default: one interval after it). */
  readonly immediate?: boolean | undefined;
  /** Told about every failed pass, with the wait before the next one. */
  readonly onError?: ((err: Error, retryInMs: number) => void) | undefined;
  readonly timers?: PollTimers | undefined;
}

/** What a pass returns: `'done'` ends the poll (e.g. a retry loop that finally succeeded). */
export type PassResult = void | 'done';

export interface Poll {
  /** Starts the loop; a second call does nothing. */
  start(): void;
  /** Asks for a pass now (after the one running, if any); ignored before start and after stop. */
  poke(): void;
  /** Ends the loop; resolves once a pass in flight has finished. */
  stop(): Promise<void>;
  /** Resolves when the loop has ended: stopped, or a pass returned `'done'`. */
  readonly ended: Promise<void>;
}

/** The wait after `failures` consecutive failed passes (1 or more). */
export function backoffDelay(failures: number, backoff: { readonly baseMs: number; readonly maxMs: number }): number {
  return Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
}

/** Runs `pass` repeatedly as the file comment says; nothing runs until `start()`. */
export function poll(pass: () => Promise<PassResult>, opts: PollOptions): Poll {
  const timers = opts.timers ?? nodeTimers;
  const backoff = opts.backoff ?? { baseMs: opts.intervalMs, maxMs: opts.intervalMs };
  let started = false;
  let ended = false;
  let timer: unknown;
  let inFlight: Promise<void> | undefined;
  let poked = false;
  let failures = 0;
  let endNow: () => void = () => undefined;
  const endedPromise = new Promise<void>((resolve) => {
    endNow = resolve;
  });

  const end = (): void => {
    ended = true;
    if (timer !== undefined) timers.clearTimeout(timer);
    timer = undefined;
    endNow();
  };

  const schedule = (ms: number): void => {
    timer = timers.setTimeout(() => {
      timer = undefined;
      run();
    }, ms);
  };

  const run = (): void => {
    inFlight = (async () => {
      let result: PassResult = undefined;
      let delay = opts.intervalMs;
      try {
        result = await pass();
        failures = 0;
      } catch (err) {
        failures++;
        delay = backoffDelay(failures, backoff);
        opts.onError?.(err instanceof Error ? err : new Error(String(err)), delay);
      }
      inFlight = undefined;
      if (ended) return;
      if (result === 'done') {
        end();
        return;
      }
      if (poked) {
        poked = false;
        run();
        return;
      }
      schedule(delay);
    })();
  };

  return {
    start() {
      if (started || ended) return;
      started = true;
      if (opts.immediate === true) run();
      else schedule(opts.intervalMs);
    },
    poke() {
      if (!started || ended) return;
      if (inFlight !== undefined) {
        poked = true;
        return;
      }
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
      run();
    },
    async stop() {
      end();
      await inFlight;
    },
    ended: endedPromise,
  };
}
