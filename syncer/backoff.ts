/**
 * Exponential backoff with jitter for retries (failed reconcile, lost watch, HAProxy not up yet).
 * Pure: the random source is passed in.
 */
export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 100, maxMs: 30_000 };

/**
 * Delay before retry number `attempt` (0-based): base·2^attempt capped at max, then scaled into
 * [50 %, 100 %] so many replicas that failed together do not retry in lockstep.
 */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const exp = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(exp * (0.5 + random() / 2));
}
