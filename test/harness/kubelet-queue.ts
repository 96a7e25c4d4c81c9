/**
 * A keyed work queue in the manner of client-go's workqueue: one pass per key at a time, events that
 * arrive during a pass collapse into one more pass, failed passes retry with backoff. The handler reads
 * the latest state itself (level-driven), so the queue carries keys only.
 */
interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/** Options of {@link KeyedQueue}. */
export interface KeyedQueueOptions {
  /** Called for a failed pass before its retry. */
  readonly onError?: (key: string, err: unknown) => void;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

/** See the module comment. Not started until {@link KeyedQueue.start}: keys added before wait. */
export class KeyedQueue {
  readonly #handler: (key: string) => Promise<void>;
  readonly #opts: KeyedQueueOptions;
  readonly #dirty = new Set<string>();
  readonly #active = new Set<string>();
  readonly #waiters = new Map<string, Waiter[]>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #running = false;
  #stopped = false;

  constructor(handler: (key: string) => Promise<void>, opts: KeyedQueueOptions = {}) {
    this.#handler = handler;
    this.#opts = opts;
  }

  /** Schedules a pass for `key`; resolves when a pass that began after this call has succeeded. */
  add(key: string): Promise<void> {
    if (this.#stopped) return Promise.reject(new Error('queue stopped'));
    const done = new Promise<void>((resolve, reject) => {
      const list = this.#waiters.get(key) ?? [];
      list.push({ resolve, reject });
      this.#waiters.set(key, list);
    });
    this.#mark(key);
    return done;
  }

  /** Like {@link add} for callers that do not wait: the promise's rejection on stop is swallowed. */
  poke(key: string): void {
    this.add(key).catch(() => {});
  }

  /** Starts processing (keys added so far run now). */
  start(): void {
    this.#running = true;
    for (const key of this.#dirty) this.#kick(key);
  }

  /** Stops for good: pending retries are cancelled, waiters rejected. */
  stop(): void {
    this.#stopped = true;
    this.#running = false;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const list of this.#waiters.values()) for (const w of list) w.reject(new Error('queue stopped'));
    this.#waiters.clear();
    this.#dirty.clear();
  }

  #mark(key: string): void {
    this.#dirty.add(key);
    this.#kick(key);
  }

  #kick(key: string): void {
    if (!this.#running || this.#active.has(key)) return;
    void this.#pass(key);
  }

  async #pass(key: string): Promise<void> {
    this.#active.add(key);
    this.#dirty.delete(key);
    const waiting = this.#waiters.get(key) ?? [];
    this.#waiters.delete(key);
    try {
      await this.#handler(key);
      this.#failures.delete(key);
      for (const w of waiting) w.resolve();
    } catch (err) {
      if (this.#stopped) {
        for (const w of waiting) w.reject(err);
      } else {
        // Waiters stay until a pass succeeds; the retry runs after a growing delay.
        this.#waiters.set(key, [...waiting, ...(this.#waiters.get(key) ?? [])]);
        const n = (this.#failures.get(key) ?? 0) + 1;
        this.#failures.set(key, n);
        this.#opts.onError?.(key, err);
        const delay = Math.min((this.#opts.baseDelayMs ?? 100) * 2 ** (n - 1), this.#opts.maxDelayMs ?? 5000);
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          if (!this.#stopped) this.#mark(key);
        }, delay);
        this.#timers.add(timer);
      }
    } finally {
      this.#active.delete(key);
    }
    if (this.#dirty.has(key)) this.#kick(key);
  }
}
