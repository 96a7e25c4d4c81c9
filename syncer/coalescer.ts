/**
 * Decides when a change of the replica set starts a reconcile pass. Timers are injected so tests drive
 * a fake clock.
 *
 * Leading edge: a change that finds the syncer idle is applied at once — a lone pod added or removed
 * costs no waiting. Idle means no pass running, no burst pending, and calm since the last pass ended:
 * the quiet window (`quietMs`) after a lone pass, `maxMs` after a pass that closed a coalesced burst.
 *
 * Trailing edge: changes that follow within that calm (or arrive while a pass runs) are coalesced into
 * one more pass, a quiet window after the last of them, but never later than `maxMs` after the first
 * (so a steady trickle, a rollout adding a pod every 150 ms, still converges). A change that arrives
 * during a pass waits for the pass to end and opens its window then: a burst that outlasts one reload
 * costs one more reload, not one per event.
 *
 * Why the longer calm after a coalesced pass: changes often come in clusters (pods of one scale-out get
 * their IPs in waves). With the quiet window alone, every cluster after a pause would cost a leading
 * pass and a trailing one where a trailing edge alone cost one — twice the reloads. Reloads matter:
 * each one restarts the worker's table resync, and the next reload must wait for it.
 *
 * The bound, against a trailing edge alone with the same window and maximum (the coalescer before issue
 * 11), on the same changes: at most one more pass per burst — the leading one — where a burst ends only
 * with a calm of `maxMs` after its last pass; a lone change costs one pass, as before. No leading edge
 * can do better: two changes 50 ms apart, the first from idle, need two passes when the first is applied
 * before the second exists. The longest wait is as before: at most `maxMs` after the window opens,
 * which is when its first change arrives or, for a change made during a pass, when the pass ends. A
 * change that finds the syncer idle waits for nothing; on a given sequence another change can come out
 * later than before, since the windows fall elsewhere (never beyond that longest wait).
 * syncer/coalescer.test.ts measures both against that reference.
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
  /**
   * Start a pass now. Never called while a pass runs (as told by passStarted/passEnded); the pass must
   * call passStarted() before it reads the changes it applies.
   */
  readonly fire: () => void;
  /**
   * Apply a change that finds the syncer idle at once. Off in the syncer for now: on the real node a
   * burst of 3 pods within a second then cost 3 reloads per replica instead of 2 (test/syncer-cluster),
   * and the issue asks for never more than before. The unit tests keep the leading edge's bound.
   */
  readonly leading?: boolean;
}

export class Coalescer {
  readonly #opts: CoalescerOptions;
  #running = false;
  /** When the last pass ended (-Infinity: none yet). */
  #lastEnd = Number.NEGATIVE_INFINITY;
  /** Whether the last pass was one this coalescer fired to close a burst (then idle needs `maxMs` of calm). */
  #lastClosedBurst = false;
  /** Set while fire() runs, so passStarted knows who started the pass. */
  #firing: 'leading' | 'trailing' | undefined;
  /** First and last change not yet read by a pass; undefined when none is pending. */
  #firstAt: number | undefined;
  #lastAt = 0;
  #handle: unknown;

  constructor(opts: CoalescerOptions) {
    this.#opts = opts;
  }

  /** A change happened: apply it at once when idle, else (re)arm the burst's timer. */
  poke(): void {
    const { timers, quietMs, maxMs } = this.#opts;
    const now = timers.now();
    const calm = this.#lastClosedBurst ? Math.max(maxMs, quietMs) : quietMs;
    if (this.#opts.leading === true && !this.#running && this.#firstAt === undefined && now - this.#lastEnd > calm) {
      this.#start('leading');
      return;
    }
    this.#firstAt ??= now;
    this.#lastAt = now;
    if (!this.#running) this.#arm();
  }

  /**
   * A pass begins (fired here, or started by a retry, the periodic resync, start-up). It reads every
   * change made so far, so a pending burst is settled by it.
   */
  passStarted(): void {
    this.#running = true;
    this.#lastClosedBurst = this.#firing === 'trailing';
    this.#firing = undefined;
    this.#clearTimer();
    this.#firstAt = undefined;
  }

  /** The pass ended: changes that arrived meanwhile open a window now (see the header). */
  passEnded(): void {
    const now = this.#opts.timers.now();
    this.#running = false;
    this.#lastEnd = now;
    if (this.#firstAt !== undefined) {
      this.#firstAt = now;
      this.#lastAt = now;
      this.#arm();
    }
  }

  /** True while changes wait for a pass. */
  get pending(): boolean {
    return this.#firstAt !== undefined;
  }

  /** Drops a pending burst (shutdown). */
  cancel(): void {
    this.#clearTimer();
    this.#firstAt = undefined;
  }

  #arm(): void {
    const { timers, quietMs, maxMs } = this.#opts;
    const first = this.#firstAt ?? this.#lastAt;
    const due = Math.min(this.#lastAt + quietMs, first + Math.max(maxMs, quietMs));
    this.#clearTimer();
    this.#handle = timers.setTimeout(
      () => {
        this.#handle = undefined;
        this.#start('trailing');
      },
      Math.max(0, due - timers.now()),
    );
  }

  #start(kind: 'leading' | 'trailing'): void {
    this.#firing = kind;
    try {
      this.#opts.fire();
    } finally {
      this.#firing = undefined;
    }
  }

  #clearTimer(): void {
    if (this.#handle !== undefined) this.#opts.timers.clearTimeout(this.#handle);
    this.#handle = undefined;
  }
}
