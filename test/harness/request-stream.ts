/**
 * A steady, bounded stream of requests through the example's front LB with a fixed set of session keys,
 * as a user's clients would send them while the HAProxy tier is scaled or rolled. It records every
 * request that failed (any error or non-200 answer) and every session that was answered by another
 * backend than the one it started on.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { lbGet } from './e2e-lb.ts';

export interface StreamResult {
  readonly sent: number;
  readonly failed: number;
  /** Requests answered by another backend than their session's. */
  readonly moved: number;
  /** Sessions with at least one such request (a moved entry is replicated, so one move repeats). */
  readonly movedSessions: number;
  /** The first few failures and moves, for the assertion message. */
  readonly examples: readonly string[];
  /** Requests per HAProxy replica IP (the address the backend saw). */
  readonly perReplica: ReadonlyMap<string, number>;
}

export interface RequestStream {
  /** The HAProxy replica IPs that answered requests sent at or after `since` (epoch ms). */
  servedSince(since: number): Set<string>;
  /** Ends the stream after the requests in flight and returns what happened. */
  stop(): Promise<StreamResult>;
}

/**
 * Starts `clients` concurrent clients, each sending one request at a time with `gapMs` between
 * requests, cycling over the sessions (key → the backend that owns it). Bounded by `maxRequests`.
 */
export function startStream(
  lb: string,
  sessions: ReadonlyMap<string, string>,
  opts: { clients?: number; gapMs?: number; maxRequests?: number } = {},
): RequestStream {
  const { clients = 4, gapMs = 50, maxRequests = 50_000 } = opts;
  const keys = [...sessions.keys()];
  let stopping = false;
  let sent = 0;
  let failed = 0;
  let moved = 0;
  const examples: string[] = [];
  const perReplica = new Map<string, number>();
  const movedKeys = new Set<string>();
  const served: { at: number; via: string }[] = [];
  const note = (what: string): void => {
    if (examples.length < 10) examples.push(what);
  };

  const client = async (index: number): Promise<void> => {
    for (let i = index; !stopping && sent < maxRequests; i += clients) {
      const key = keys[i % keys.length] ?? '';
      sent++;
      const startedAt = Date.now();
      const at = new Date(startedAt).toISOString();
      try {
        const r = await lbGet(lb, key);
        served.push({ at: startedAt, via: r.via });
        perReplica.set(r.via, (perReplica.get(r.via) ?? 0) + 1);
        if (r.backend !== sessions.get(key)) {
          moved++;
          movedKeys.add(key);
          note(`${at} ${key}: served by ${r.backend} via ${r.via}, owned by ${sessions.get(key)}`);
        }
      } catch (err) {
        failed++;
        note(`${at} ${key}: ${(err as Error).message}`);
      }
      await sleep(gapMs);
    }
  };
  const running = Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
  return {
    servedSince: (since) => new Set(served.filter((r) => r.at >= since).map((r) => r.via)),
    async stop() {
      stopping = true;
      await running;
      return { sent, failed, moved, movedSessions: movedKeys.size, examples, perReplica };
    },
  };
}
