/**
 * Coalesces bursts of change notifications into one reconcile. Timers are injected so tests drive a
 * fake clock.
 *
 * After a change it waits for a quiet window (no further change for `quietMs`), but never longer than
 * `maxMs` after the first change of the burst, so a steady trickle (a rollout that adds one pod every
 * 150 ms) still converges. Fewer reloads also protect the tables: a reload shortly after a fresh start
 * can lose entries on HAProxy 2.6.
 */

/** The clock and timer functions the coalescer needs; `globalThis` fits. */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface CoalescerOptions {
  readonly quietMs: number;
  readonly maxMs: number;
  readonly timers: Timers;
  /** Called once per burst. */
  readonly fire: () => void;
}

export class Coalescer {
  readonly #opts: CoalescerOptions;
  #firstAt: number | undefined;
  #handle: unknown;

  constructor(opts: CoalescerOptions) {
    this.#opts = opts;
  }

  /** A change happened: (re)arm the timer. */
  poke(): void {
    const { timers, quietMs, maxMs } = this.#opts;
    const now = timers.now();
    this.#firstAt ??= now;
    const due = Math.min(now + quietMs, this.#firstAt + Math.max(maxMs, quietMs));
    if (this.#handle !== undefined) timers.clearTimeout(this.#handle);
    this.#handle = timers.setTimeout(() => this.#fire(), Math.max(0, due - now));
  }

  /** True while a burst is waiting to fire. */
  get pending(): boolean {
    return this.#handle !== undefined;
  }

  /** Drops a pending burst (shutdown). */
  cancel(): void {
    if (this.#handle !== undefined) this.#opts.timers.clearTimeout(this.#handle);
    this.#handle = undefined;
    this.#firstAt = undefined;
  }

  #fire(): void {
    this.#handle = undefined;
    this.#firstAt = undefined;
    this.#opts.fire();
  }
}
