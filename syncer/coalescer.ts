/**
 * Decides when a change of the replica set starts a reconcile pass. Timers are injected so tests drive
 * a fake clock.
 *
 * Leading edge: a change that finds the syncer idle is applied at once — a lone pod added or removed
 * costs no waiting. Idle means no pass running, no change pending, no change for `maxMs`, and
 * `quietMs` since the end of the last pass that applied changes.
 *
 * Trailing edge: everything else is coalesced. The changes that follow a leading pass wait for one
 * window of the full `maxMs` from the first of them; later windows close a quiet window (`quietMs`)
 * after their last change, never later than `maxMs` after their first (so a steady trickle, a rollout
 * adding a pod every 150 ms, still converges). A change that arrives during a pass waits for the pass to
 * end and opens its window then: a burst that outlasts one reload costs one more reload, not one per
 * event.
 *
 * Why idle needs `maxMs` without a change, and why the full window after a leading pass: changes come in
 * clusters (the pods of one scale-out get their IPs in waves, then turn Ready). With idle back a quiet
 * window after a pass, and quiet windows after a leading pass, a burst of 3 pods within a second cost 3
 * reloads per replica on the real node where the trailing edge alone cost 2: the leading pass, then the
 * rest split by a quiet window. The full window takes in what a quiet window would split, so any burst
 * whose changes all come within `maxMs` of its second costs 2 passes at most. Reloads matter: each one
 * restarts the worker's table resync, and the next reload must wait for it.
 *
 * Against a trailing edge alone with the same window and maximum (the coalescer before issue 11), on the
 * same changes (syncer/coalescer.test.ts, 300 random sequences): at most one more pass per burst — the
 * leading one — on some sequences, fewer on more of them, fewer in total; a lone change costs one pass,
 * as before, now at once. The longest wait is as before: at most `maxMs` after the window opens, which
 * is when its first change arrives or, for a change made during a pass, when the pass ends; but a change
 * that follows a leading pass waits longer than a quiet window would have made it. bench/replay.ts
 * replays the changes a bench run recorded through both.
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
  /** Apply a change that finds the syncer idle at once (see the header); off: the trailing edge only. */
  readonly leading?: boolean;
}

/** What a pass settled (passStarted): who started it and the changes it reads, for the timing log. */
export interface Settled {
  /** 'leading': a change from idle; 'trailing': a coalesced burst; undefined: started elsewhere. */
  readonly kind: 'leading' | 'trailing' | undefined;
  /** Changes it reads (0: a periodic or retry pass with nothing new). */
  readonly changes: number;
  /** When the first and the last of them arrived (timers.now()); undefined when none. */
  readonly firstAt: number | undefined;
  readonly lastAt: number | undefined;
}

export class Coalescer {
  readonly #opts: CoalescerOptions;
  #running = false;
  /**
   * Before this time a change is part of the current burst, not from idle: `maxMs` after the last
   * change, and at least `quietMs` after the end of a pass that applied changes.
   */
  #calmAt = Number.NEGATIVE_INFINITY;
  /** Set while fire() runs, so passStarted knows who started the pass. */
  #firing: 'leading' | 'trailing' | undefined;
  /** Whether the running pass was started for changes (its end then counts as activity). */
  #passForChanges = false;
  /** First and last change not yet read by a pass; undefined when none is pending. */
  #firstAt: number | undefined;
  #lastAt = 0;
  #changes = 0;
  /** When the first and the last pending change really arrived (a window opens at a pass's end). */
  #arrivedAt: number | undefined;
  #lastArrivedAt = 0;
  /** The last pass was a leading one: the window after it runs its full `maxMs` (see the header). */
  #afterLeading = false;
  #handle: unknown;

  constructor(opts: CoalescerOptions) {
    this.#opts = opts;
  }

  /** A change happened: apply it at once when idle, else (re)arm the burst's timer. */
  poke(): void {
    const { timers, quietMs, maxMs } = this.#opts;
    const now = timers.now();
    const idle = !this.#running && this.#firstAt === undefined && now >= this.#calmAt;
    this.#calmAt = Math.max(this.#calmAt, now + Math.max(maxMs, quietMs));
    this.#changes++;
    this.#lastArrivedAt = now;
    if (this.#opts.leading === true && idle) {
      this.#firstAt = now;
      this.#lastAt = now;
      this.#arrivedAt = now;
      this.#start('leading');
      // No pass started (nothing listed yet, or stopping): the pass that comes later reads it anyway.
      if (!this.#running) this.cancel();
      return;
    }
    if (this.#firstAt === undefined) {
      this.#firstAt = now;
      this.#arrivedAt = now;
    }
    this.#lastAt = now;
    if (!this.#running) this.#arm();
  }

  /**
   * A pass begins (fired here, or started by a retry, the periodic resync, start-up). It reads every
   * change made so far, so a pending burst is settled by it. Returns what it settled.
   */
  passStarted(): Settled {
    const settled: Settled = {
      kind: this.#firing,
      changes: this.#changes,
      firstAt: this.#firstAt === undefined ? undefined : this.#arrivedAt,
      lastAt: this.#firstAt === undefined ? undefined : this.#lastArrivedAt,
    };
    // Only a leading pass opens a full window; any other pass that reads the pending changes closes it.
    if (this.#firing === 'leading') this.#afterLeading = true;
    else if (this.#firstAt !== undefined) this.#afterLeading = false;
    this.#running = true;
    this.#passForChanges = this.#changes > 0;
    this.#firing = undefined;
    this.#clearTimer();
    this.#firstAt = undefined;
    this.#arrivedAt = undefined;
    this.#changes = 0;
    return settled;
  }

  /** The pass ended: changes that arrived meanwhile open a window now (see the header). */
  passEnded(): void {
    const { timers, quietMs } = this.#opts;
    const now = timers.now();
    this.#running = false;
    if (this.#passForChanges) this.#calmAt = Math.max(this.#calmAt, now + quietMs);
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
    this.#arrivedAt = undefined;
    this.#changes = 0;
  }

  #arm(): void {
    const { timers, quietMs, maxMs } = this.#opts;
    const first = this.#firstAt ?? this.#lastAt;
    const longest = first + Math.max(maxMs, quietMs);
    const due = this.#afterLeading ? longest : Math.min(this.#lastAt + quietMs, longest);
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
