/**
 * The level-triggered reconcile loop. Every pass recomputes the desired peers from the whole slice
 * cache and lets the backend compare them with what HAProxy really holds; at most one write and one
 * reload per pass. A change that finds the syncer idle is applied at once, the ones that follow it are
 * coalesced (coalescer.ts: the leading edge and the bound on reloads); failures retry with backoff; a periodic pass catches drift
 * nobody announced (a restarted HAProxy, an edited file). Also owns readiness, and with it the one fact
 * HAProxy's flags do not carry across a reload: whether the worker a reload replaced had been taught.
 *
 * The clock and the backend are injected; tests drive it with fakes.
 */
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { AppError, ERRORS, RELOAD_FAILURE_CODES } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
import { Coalescer, realTimers, type Settled, type Timers } from './coalescer.ts';
import { desiredPeers, type Self } from './desired.ts';
import { ReloadRejectedError, samePeers, UnknownVersionError, type Backend, type SyncTiming } from './direct.ts';
import { KNOWN_BRANCHES, describeSectionFlags, type HaproxyDialect } from './haproxy-version.ts';
import type { SyncerMetrics } from './metrics.ts';
import { diffPeers, formatAddress, isEmptyDiff, type Peer } from './peers.ts';
import { NEEDS_RESTART, taughtVerdict, verdictReason, type SectionStatus, type WorkerHistory } from './show-peers.ts';
import { sameMaster, type MasterInstance } from './show-proc.ts';

export interface ReconcilerOptions {
  readonly self: Self;
  readonly port: number;
  /** The slice cache; undefined until the first list (never reconcile an unlisted cache). */
  readonly slices: () => readonly V1EndpointSlice[] | undefined;
  readonly backend: Backend;
  readonly log: Logger;
  readonly metrics: SyncerMetrics;
  readonly quietMs: number;
  /** Apply a change that finds the syncer idle at once (Coalescer `leading`; the flag --coalesce-leading). */
  readonly leadingEdge?: boolean;
  readonly maxMs: number;
  readonly timers?: Timers;
  /** Periodic pass even without events (default 5 s): it also notices a restarted HAProxy. */
  readonly resyncMs?: number;
  /** How often readiness is re-read until the tables are taught (default 250 ms). */
  readonly readinessPollMs?: number;
  readonly backoff?: BackoffOptions;
  /** Longest wait between checks for HAProxy's master socket while HAProxy is not up (default 400 ms). */
  readonly waitForHaproxyMaxMs?: number;
  /** Told of reloads, failed passes and a resync that ended untaught: for /status and Kubernetes Events. */
  readonly onOutcome?: (outcome: ReconcileOutcome) => void;
}

/** What a pass or a readiness check found that an operator should see (syncer/status.ts, syncer/events.ts). */
export type ReconcileOutcome =
  | { readonly kind: 'reloaded' }
  | { readonly kind: 'error'; readonly code: string; readonly message: string }
  | { readonly kind: 'untaught'; readonly reason: string };

export class Reconciler {
  readonly #o: ReconcilerOptions;
  readonly #timers: Timers;
  readonly #coalescer: Coalescer;
  #stopped = false;
  #inFlight: Promise<void> | undefined;
  #attempt = 0;
  #waitAttempt = 0;
  #retry: unknown;
  #resync: unknown;
  #readinessTimer: unknown;
  #readinessLoop = false;
  #lastWarnings = '';
  #desired: readonly Peer[] = [];
  #passed = false;
  /** The peers at the last notify that started a change, or the last pass; see notify(). */
  #notifiedPeers: readonly Peer[] | undefined;
  #firstSuccess = false;
  /** Whether any other replica was Ready when HAProxy was first seen running (see taughtVerdict). */
  #noReadyOtherAtStart = false;
  #taught = false;
  /**
   * Whether the worker the current one replaced (by a reload of the same master) had its table taught
   * (or this replica was already Ready then: the latch); false when it had not, or when the current
   * worker is the master's first. Undefined when this process did not see it: it started after HAProxy
   * had been reloaded (HAProxy's own flags are then taken at their word; see WorkerHistory).
   */
  #predecessorTaught: boolean | undefined;
  /** Counts reloads and restarts seen: a readiness check whose `show peers` may predate one is not judged. */
  #workerGeneration = 0;
  /** The pass succeeded against a running HAProxy: check readiness once it is over. */
  #readinessDue = false;
  /** The HAProxy instance (its master) the readiness verdict was made for. */
  #instance: MasterInstance | undefined;
  /** What the running HAProxy's answers mean (learned from its version every pass). */
  #dialect: HaproxyDialect | undefined;
  /** The last refusal of an unknown HAProxy version (logged once per distinct message). */
  #refusedVersion = '';
  #reason = 'waiting for the first successful reconcile';

  constructor(opts: ReconcilerOptions) {
    this.#o = opts;
    this.#timers = opts.timers ?? realTimers;
    this.#coalescer = new Coalescer({
      quietMs: opts.quietMs,
      maxMs: opts.maxMs,
      timers: this.#timers,
      fire: () => this.#kick(),
      leading: opts.leadingEdge === true,
    });
  }

  /**
   * The slice cache changed: reconcile now when idle, else when the burst it belongs to is over. An event
   * that leaves the peers file as it is (a replica turning Ready, a slice rewritten with the same
   * endpoints) only refreshes the peers' readiness, for the start-up gate: counted as a change it would
   * start passes for nothing, and keep the leading edge from finding the syncer idle when the next real
   * change comes (seen on the real node: a lone pod's change waited its window behind such an event).
   */
  notify(): void {
    if (this.#stopped) return;
    const slices = this.#o.slices();
    if (slices !== undefined && this.#passed) {
      const { peers: desired, warnings } = desiredPeers(slices, this.#o.self, this.#o.port);
      // Names, addresses and ports as the peers file has them. A new skipped endpoint is still a change:
      // its pass logs the warning now, not at the periodic one.
      const unchanged = this.#notifiedPeers !== undefined && samePeers(desired, this.#notifiedPeers);
      if (unchanged && warnings.join('\n') === this.#lastWarnings) {
        this.#desired = desired;
        return;
      }
      this.#notifiedPeers = desired;
    }
    this.#coalescer.poke();
  }

  /** Starts the periodic pass and runs one at once (a no-op until the first list). */
  start(): void {
    const every = this.#o.resyncMs ?? 5_000;
    const tick = (): void => {
      if (this.#stopped) return;
      // Changes waiting for their window: their pass comes within --coalesce-max and reads everything; a
      // periodic pass now would split the burst and cost one more reload.
      if (!this.#coalescer.pending) this.#kick();
      this.#resync = this.#timers.setTimeout(tick, every);
    };
    this.#resync = this.#timers.setTimeout(tick, every);
    this.#kick();
  }

  /** Stops timers and waits for a pass in flight (a reload is confirmed or abandoned, never cut). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#coalescer.cancel();
    for (const t of [this.#retry, this.#resync, this.#readinessTimer])
      if (t !== undefined) this.#timers.clearTimeout(t);
    await this.#inFlight;
  }

  /** The desired peers of the last pass; undefined before the first one. */
  desiredPeers(): readonly Peer[] | undefined {
    return this.#passed ? this.#desired : undefined;
  }

  /** For /readyz: ready only after a successful reconcile against a running HAProxy and a real resync. */
  readiness(): { ready: boolean; reason: string } {
    if (this.#firstSuccess && this.#taught) return { ready: true, reason: 'ready' };
    return { ready: false, reason: this.#reason };
  }

  /** Runs a pass now, or marks one as due when a pass is in flight. */
  #kick(): void {
    if (this.#stopped) return;
    // A periodic or retry pass due while one runs: the coalescer runs it after this one (a pass is a pass).
    if (this.#inFlight !== undefined) {
      this.#coalescer.poke();
      return;
    }
    if (this.#retry !== undefined) {
      this.#timers.clearTimeout(this.#retry);
      this.#retry = undefined;
    }
    // No pass before the first list (the watch notifies after it), so the first list is applied at once.
    if (this.#o.slices() === undefined) return;
    // Every pass, whoever starts it, reads the whole cache: the coalescer counts it (idle, pending changes).
    const settled = this.#coalescer.passStarted();
    this.#inFlight = this.#pass(settled).finally(() => {
      this.#inFlight = undefined;
      // Changes that arrived during the pass open a coalescing window now: a burst that outlasts one
      // reload then costs one more reload, not one per event.
      if (!this.#stopped) this.#coalescer.passEnded();
      // After the pass, not inside it: the verdict then knows of any reload the pass made.
      if (this.#readinessDue) {
        this.#readinessDue = false;
        this.#checkReadiness();
      }
    });
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    if (this.#retry !== undefined) this.#timers.clearTimeout(this.#retry);
    this.#retry = this.#timers.setTimeout(() => {
      this.#retry = undefined;
      this.#kick();
    }, ms);
  }

  async #pass(settled: Settled): Promise<void> {
    const startedAt = this.#timers.now();
    const slices = this.#o.slices();
    if (slices === undefined) return; // see #kick
    const { metrics, log, self } = this.#o;
    const desired = desiredPeers(slices, self, this.#o.port);
    this.#desired = desired.peers;
    this.#notifiedPeers = desired.peers;
    this.#passed = true;
    const warnings = desired.warnings.join('\n');
    if (warnings !== this.#lastWarnings) {
      this.#lastWarnings = warnings;
      if (warnings !== '') log.warn({ warnings: desired.warnings }, 'some endpoints were skipped');
    }
    metrics.desiredPeers.set(desired.peers.length);
    const endTimer = metrics.duration.startTimer();
    try {
      const result = await this.#o.backend.sync(desired.peers);
      metrics.appliedPeers.set(result.applied.length);
      if (result.reloaded) {
        metrics.reloads.inc({ result: 'succeeded' });
        metrics.reloadFailure.clear();
      }
      const diff = diffPeers(result.before, desired.peers, self.name);
      if ((result.fileChanged || result.reloaded) && !isEmptyDiff(diff)) {
        log.info(
          {
            added: diff.added.map(show),
            removed: diff.removed.map(show),
            changed: diff.changed.map(show),
            peers: desired.peers.length,
            reloaded: result.reloaded,
            haproxyRunning: result.running,
            ...(result.resyncWaitedMs ? { waitedForResyncMs: result.resyncWaitedMs } : {}),
            ...(result.ackWaitedMs ? { waitedForAcksMs: result.ackWaitedMs } : {}),
            timing: passTiming(settled, startedAt, this.#timers.now(), result.timing),
          },
          'peers changed',
        );
      }
      if (result.unackedAtReload !== undefined) {
        // Names come from our own peers file (validated peer names), counts from HAProxy.
        log.warn(
          { unacked: result.unackedAtReload.map((u) => `${u.peer}/${u.table}: ${u.writes}`) },
          "reloaded before every peer acknowledged this replica's writes: those peers lack them until they are written again",
        );
      }
      metrics.reconciles.inc({ result: 'success' });
      this.#attempt = 0;
      if (!result.running) {
        // No start-up sleep: the file is ready for HAProxy's start; look for it again with backoff.
        // A short cap: HAProxy starts once the start-up gate opens, and readiness should follow its
        // lesson within a second; a refused connect on a unix socket costs next to nothing.
        const delay = Math.min(backoffDelay(this.#waitAttempt++, this.#o.backoff), this.#o.waitForHaproxyMaxMs ?? 400);
        const level = this.#waitAttempt === 1 || this.#waitAttempt % 50 === 0 ? 'info' : 'debug';
        log[level](
          { attempt: this.#waitAttempt, retryInMs: delay },
          'HAProxy master socket not answering yet; peers file is in place for its start',
        );
        this.#reason = 'waiting for HAProxy to start';
        this.#schedule(delay);
        return;
      }
      if (this.#waitAttempt > 0) log.info('HAProxy is up');
      this.#waitAttempt = 0;
      this.#learnVersion(result.haproxy);
      const instance = result.instance;
      const newMaster =
        instance !== undefined && (this.#instance === undefined || !sameMaster(this.#instance, instance));
      if (newMaster && this.#instance !== undefined && this.#firstSuccess) {
        // A restarted HAProxy (not a reload) starts with an empty table: ready again only once re-taught.
        log.warn(
          { before: this.#instance, now: instance },
          'HAProxy restarted: unready until its tables are taught again',
        );
        this.#firstSuccess = false;
        this.#taught = false;
        metrics.ready.set(0);
      }
      if (newMaster) {
        // Its first worker learns from its peers or not at all. Already reloaded when first seen (this
        // process started late): what those reloads handed on is not known here.
        this.#predecessorTaught = instance.reloads === 0 ? false : undefined;
        this.#workerGeneration++;
      }
      this.#instance = instance ?? this.#instance;
      metrics.lastSuccess.set(Date.now() / 1000);
      if (!this.#firstSuccess) {
        this.#firstSuccess = true;
        this.#noReadyOtherAtStart = !desired.peers.some((p) => p.name !== self.name && p.ready === true);
        this.#reason = 'waiting for the tables to be taught';
      }
      if (result.reloaded) {
        this.#reloaded(result.replaced);
        this.#o.onOutcome?.({ kind: 'reloaded' });
      }
      this.#readinessDue = true;
    } catch (err) {
      const code = err instanceof AppError ? err.code : ERRORS.HPS_UNEXPECTED.code;
      metrics.reconciles.inc({ result: 'error' });
      metrics.errors.inc({ code });
      // The catalogue says whether trying again soon can help (an error of ours that does not say: a bug,
      // retried as if it could); when it cannot, the level-triggered pass still retries, at the slowest pace.
      const retryable = err instanceof AppError ? err.retryable : ERRORS.HPS_UNEXPECTED.retryable;
      const delay = retryable
        ? backoffDelay(this.#attempt++, this.#o.backoff)
        : (this.#o.backoff ?? DEFAULT_BACKOFF).maxMs;
      this.#o.onOutcome?.({ kind: 'error', code, message: err instanceof Error ? err.message : String(err) });
      if (err instanceof UnknownVersionError) {
        this.#refuseVersion(err);
      } else if (err instanceof ReloadRejectedError) {
        metrics.reloads.inc({ result: 'failed' });
        // HAProxy's own words (3.0 returns them with the reload; 2.6 does not).
        metrics.reloadFailure.set({
          haproxy_version: err.haproxyVersion,
          message: err.reasons.join('\n') || 'rejected (no error lines returned by this HAProxy version)',
        });
        log.error(
          { err, haproxyLog: err.haproxyLog, attempt: this.#attempt, retryInMs: delay },
          'HAProxy rejected the new configuration; the previous worker keeps serving',
        );
      } else {
        if (RELOAD_FAILURE_CODES.has(code)) metrics.reloads.inc({ result: 'failed' });
        log[retryable ? 'warn' : 'error'](
          { err, attempt: this.#attempt, retryInMs: delay },
          'reconcile failed; retrying',
        );
      }
      this.#schedule(delay);
    } finally {
      endTimer();
    }
  }

  /** Records which HAProxy runs and what its answers mean; logs a change of version. */
  #learnVersion(d: HaproxyDialect | undefined): void {
    if (d === undefined) return;
    if (d.version !== this.#dialect?.version) {
      this.#o.log.info(
        { version: d.version, branch: d.branch, reload: d.reload },
        'HAProxy version known: its section flags and reload answer are read as in this version',
      );
      this.#o.metrics.haproxy.set({ version: d.version, branch: d.branch, known: 'true' });
    }
    this.#dialect = d;
    this.#refusedVersion = '';
  }

  /** An HAProxy version the syncer does not know: never guessed; un-Ready with that reason until it changes. */
  #refuseVersion(err: UnknownVersionError): void {
    const message = err.message;
    if (message !== this.#refusedVersion) {
      this.#refusedVersion = message;
      this.#o.log.error({ knownBranches: KNOWN_BRANCHES }, message);
      this.#o.metrics.haproxy.set({ version: err.version, branch: '', known: 'false' });
    }
    this.#dialect = undefined;
    this.#firstSuccess = false;
    this.#taught = false;
    this.#reason = message;
    this.#o.metrics.ready.set(0);
  }

  /** What readiness knows of the current worker beyond its flags. */
  #history(): WorkerHistory {
    return { noReadyOtherAtStart: this.#noReadyOtherAtStart, predecessorTaught: this.#predecessorTaught };
  }

  #others(): readonly Peer[] {
    return this.#desired.filter((p) => p.name !== this.#o.self.name);
  }

  /**
   * This pass reloaded HAProxy: the new worker is taught by the one it replaced, and HAProxy calls that
   * lesson "finished" whatever the old worker held. It counts only when the old worker's table had been
   * taught: judged on its section as read just before the reload, with what was known of it then (so a
   * chain of reloads carries the fact). Once Ready (the latch) every later worker of this master is taught
   * by a taught one: the syncer reloads only after the running worker's resync is over.
   */
  #reloaded(replaced: SectionStatus | undefined): void {
    this.#workerGeneration++;
    const dialect = this.#dialect;
    const taught =
      this.#taught ||
      (dialect !== undefined && taughtVerdict(replaced, dialect, this.#others(), this.#history()).tableTaught);
    if (!taught) {
      this.#o.log.info(
        {
          replacedSectionFlags:
            replaced === undefined || dialect === undefined ? undefined : describeSectionFlags(replaced.flags, dialect),
        },
        "reloaded before this replica was taught: the old worker's lesson to the new one does not count",
      );
    }
    this.#predecessorTaught = taught;
  }

  /**
   * Reads `show peers` until the tables are taught, then latches: a later reload of the same master is
   * taught by a taught worker (see #reloaded); a restarted HAProxy (new master) unlatches it in #pass.
   * Never judged while a pass runs: a reload may be under way, and the verdict must know of it.
   */
  #checkReadiness(): void {
    if (this.#taught || this.#stopped || this.#readinessLoop) return;
    this.#readinessLoop = true;
    const check = async (): Promise<void> => {
      this.#readinessTimer = undefined;
      if (this.#taught || this.#stopped) {
        this.#readinessLoop = false;
        return;
      }
      const dialect = this.#dialect;
      if (dialect === undefined) {
        // A refused version: the pass set the reason. Else a backend that cannot tell: never guess either.
        if (this.#refusedVersion === '')
          this.#reason = 'HAProxy did not report its version: its section flags are not interpreted';
        this.#readinessLoop = false;
        return;
      }
      // A pass may be reloading: judge only a `show peers` read while none ran; a pass running now checks
      // again when it ends.
      const afterPass = (): boolean => {
        if (this.#inFlight === undefined) return false;
        this.#readinessLoop = false;
        this.#readinessDue = true;
        return true;
      };
      if (afterPass()) return;
      const generation = this.#workerGeneration;
      const section = await this.#o.backend.showPeers().catch(() => undefined);
      if (afterPass()) return;
      if (generation !== this.#workerGeneration) {
        void check();
        return;
      } // a pass came and went meanwhile
      const verdict = taughtVerdict(section, dialect, this.#others(), this.#history());
      const reason = verdictReason(verdict);
      const flags = section === undefined ? undefined : describeSectionFlags(section.flags, dialect);
      if (verdict.taught) {
        this.#taught = true;
        this.#o.metrics.ready.set(1);
        this.#o.log.info(
          { reason, verdict: verdict.kind, haproxy: dialect.version, sectionFlags: flags },
          'tables taught: ready',
        );
        this.#readinessLoop = false;
        return;
      }
      if (reason !== this.#reason) {
        // HAProxy never asks again once its resync ended: only a restart of HAProxy can teach it now.
        if (NEEDS_RESTART.has(verdict.kind)) {
          this.#o.onOutcome?.({ kind: 'untaught', reason });
          this.#o.log.warn(
            { reason, verdict: verdict.kind, sectionFlags: flags },
            'this replica ended its table resync without a teacher while ready replicas exist; it stays unready until HAProxy restarts (delete the pod)',
          );
        } else this.#o.log.debug({ reason, verdict: verdict.kind, sectionFlags: flags }, 'not ready yet');
      }
      this.#reason = reason;
      if (this.#stopped) {
        this.#readinessLoop = false;
        return;
      }
      this.#readinessTimer = this.#timers.setTimeout(() => {
        void check();
      }, this.#o.readinessPollMs ?? 250);
    };
    void check();
  }
}

/**
 * Where a change's time went before HAProxy held it, for the 'peers changed' line: who started the
 * pass and how long its changes waited for it (from the first and the last of them, as the watch
 * delivered them), then the backend's steps from the pass start, and the pass's end. `passAt` is the
 * wall clock at the pass start (to line it up with other processes' clocks, e.g. the bench's).
 */
function passTiming(settled: Settled, startedAt: number, endedAt: number, steps: SyncTiming | undefined): object {
  const since = (t: number | undefined): number | undefined => (t === undefined ? undefined : startedAt - t);
  return {
    by: settled.kind ?? 'pass',
    changes: settled.changes,
    waitedFromFirstMs: since(settled.firstAt),
    waitedFromLastMs: since(settled.lastAt),
    ...steps,
    passMs: endedAt - startedAt,
    passAt: Date.now() - (endedAt - startedAt),
  };
}

function show(p: Peer): string {
  return `${p.name}=${formatAddress(p.host, p.port)}`;
}
