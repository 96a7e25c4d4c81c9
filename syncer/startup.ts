/**
 * The start-up gate (`/startupz`), meant as the native sidecar's startupProbe so that the HAProxy
 * container starts only once every Ready replica has declared this pod.
 *
 * Why: a fresh HAProxy dials its peers at once; one that has not declared it yet refuses (UNKN) and
 * the fresh side does not retry. The link then comes up only when that replica reloads and dials
 * back — and if its new worker dials before it has itself been taught by its predecessor, it answers
 * the fresh replica's resync request with "partial", and the fresh replica may end its resync after
 * 5 s without a teacher (seen on 2.6.12). Starting HAProxy after the declaration avoids both: the
 * first dial is accepted by a settled replica that teaches the whole table ("finished").
 * The gate opens at once when HAProxy already runs (a restarted sidecar) or no other replica is Ready,
 * and after `maxWaitMs` in any case (logged), so a broken peer cannot keep a pod from starting.
 */
import type { Peer } from './peers.ts';

export interface StartupGateOptions {
  readonly localName: string;
  /** The latest desired peers; undefined until the first pass computed them. */
  readonly desired: () => readonly Peer[] | undefined;
  readonly probe: (peer: Peer) => Promise<number | undefined>;
  readonly haproxyRunning: () => Promise<boolean>;
  readonly now: () => number;
  readonly maxWaitMs: number;
}

export type GateVerdict = { open: true; reason: string } | { open: false; reason: string };

/** One evaluation; the caller repeats it until open and latches the result. */
export async function evaluateGate(o: StartupGateOptions, startedAt: number): Promise<GateVerdict> {
  const desired = o.desired();
  if (desired === undefined) return { open: false, reason: 'waiting for the first EndpointSlice list' };
  if (await o.haproxyRunning()) return { open: true, reason: 'HAProxy already running' };
  const ready = desired.filter((p) => p.name !== o.localName && p.ready === true);
  if (ready.length === 0) return { open: true, reason: 'no other replica is ready' };
  const codes = await Promise.all(ready.map(async (p) => [p.name, await o.probe(p)] as const));
  const missing = codes.filter(([, code]) => code !== 200).map(([name, code]) => `${name}(${code ?? 'no answer'})`);
  if (missing.length === 0) return { open: true, reason: `declared by every ready replica (${ready.length})` };
  if (o.now() - startedAt >= o.maxWaitMs)
    return { open: true, reason: `gave up waiting after ${o.maxWaitMs} ms for: ${missing.join(', ')}` };
  return { open: false, reason: `not yet declared by: ${missing.join(', ')}` };
}

/** Re-evaluates the gate every `intervalMs` until it opens, then latches; `status()` feeds /startupz. */
export class StartupGate {
  readonly #o: StartupGateOptions;
  readonly #onOpen: (reason: string) => void;
  readonly #intervalMs: number;
  #open = false;
  #reason = 'starting';
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(opts: StartupGateOptions, onOpen: (reason: string) => void, intervalMs = 200) {
    this.#o = opts;
    this.#onOpen = onOpen;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    const startedAt = this.#o.now();
    const tick = async (): Promise<void> => {
      if (this.#stopped) return;
      const v = await evaluateGate(this.#o, startedAt).catch((err: unknown) => ({
        open: false as const,
        reason: `gate check failed: ${(err as Error).message}`,
      }));
      this.#reason = v.reason;
      if (v.open) {
        this.#open = true;
        this.#onOpen(v.reason);
        return;
      }
      if (!this.#stopped)
        this.#timer = setTimeout(() => {
          void tick();
        }, this.#intervalMs);
    };
    void tick();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  status(): { ready: boolean; reason: string } {
    return this.#open ? { ready: true, reason: 'started' } : { ready: false, reason: this.#reason };
  }
}
