/**
 * Replays the EndpointSlice changes a bench run recorded (`npm run bench -- --trace-dir DIR`) through the
 * syncer's coalescer on a fake clock, for several settings, to compare their reloads and waits on real
 * timelines without the node: `node bench/replay.ts DIR [--pass-ms 60]`.
 *
 * Per scenario and setting: the reloads one replica makes (passes whose replica set differs from the one
 * applied before) and the time from the change that completed the final set to the end of the pass that
 * applied it. A pass takes `--pass-ms` when it reloads, 5 ms when it does not.
 *
 * Then, from the syncer logs in the same directory, where the final change's time went on each existing
 * replica (medians): the syncer's watch seeing it (against this process's watch), the coalescer's wait,
 * the file written, the wait for the worker's resync, the reload until confirmed, and the bench seeing the
 * live section.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Coalescer } from '../syncer/coalescer.ts';
import { fakeTimers } from '../test/support/fake-timers.ts';
import { describeFlags, FlagError, parseFlags } from './flags.ts';
import { percentile } from './stats.ts';

export interface Trace {
  readonly began: number;
  readonly changeAt: number;
  /** The live replica set when the scenario began. */
  readonly initial: string;
  /** When the bench saw each existing replica's file and live section hold the final set. */
  readonly seen?: { readonly file: Record<string, number>; readonly section: Record<string, number> };
  readonly events: readonly { readonly at: number; readonly set: string }[];
}

export interface Setting {
  readonly name: string;
  readonly quietMs: number;
  readonly maxMs: number;
  readonly leading: boolean;
}

export interface Replayed {
  readonly reloads: number;
  /** From the change that completed the final set to the end of the pass that applied it. */
  readonly finalMs: number;
}

/** One replica's passes over `trace` with `setting`; pure but for the fake clock it creates. */
export async function replay(trace: Trace, setting: Setting, reloadMs: number): Promise<Replayed> {
  const timers = fakeTimers();
  const t0 = trace.began;
  let current = trace.initial;
  let applied = current;
  let reloads = 0;
  let finalAppliedAt: number | undefined;
  const finalSet = trace.events.find((e) => e.at === trace.changeAt)?.set;
  let running = false;
  const run = (): void => {
    if (running) {
      coalescer.poke();
      return;
    }
    running = true;
    coalescer.passStarted();
    const sees = current;
    const reload = sees !== applied;
    timers.setTimeout(
      () => {
        running = false;
        if (reload) {
          reloads++;
          applied = sees;
          if (sees === finalSet) finalAppliedAt ??= timers.now();
        }
        coalescer.passEnded();
      },
      reload ? reloadMs : 5,
    );
  };
  const coalescer = new Coalescer({ ...setting, timers, fire: run });
  for (const e of trace.events) {
    await timers.advance(e.at - t0 - timers.now());
    current = e.set;
    coalescer.poke();
  }
  await timers.advance(10_000);
  return { reloads, finalMs: (finalAppliedAt ?? Number.NaN) - (trace.changeAt - t0) };
}

export const SETTINGS: readonly Setting[] = [
  { name: 'trailing 200/1000', quietMs: 200, maxMs: 1000, leading: false },
  { name: 'trailing 100/1000', quietMs: 100, maxMs: 1000, leading: false },
  { name: 'trailing 50/1000', quietMs: 50, maxMs: 1000, leading: false },
  { name: 'leading 200/1000', quietMs: 200, maxMs: 1000, leading: true },
  { name: 'leading 100/1000', quietMs: 100, maxMs: 1000, leading: true },
  { name: 'leading 50/1000', quietMs: 50, maxMs: 1000, leading: true },
  { name: 'leading 200/2000', quietMs: 200, maxMs: 2000, leading: true },
  { name: 'leading 400/2000', quietMs: 400, maxMs: 2000, leading: true },
];

interface PassTiming {
  readonly by: string;
  readonly changes: number;
  readonly waitedFromFirstMs?: number;
  readonly waitedFromLastMs?: number;
  readonly fileWrittenMs?: number;
  readonly liveReadMs?: number;
  readonly reloadSentMs?: number;
  readonly reloadDoneMs?: number;
  readonly passMs: number;
  readonly passAt: number;
}

/** The stages of the final change on one replica (ms), from its syncer's 'peers changed' lines. */
export function finalChangeStages(
  trace: Trace,
  pod: string,
  log: string,
): Record<string, number | undefined> | undefined {
  const target = trace.events
    .find((e) => e.at === trace.changeAt)
    ?.set.split(',')
    .filter(Boolean).length;
  for (const line of log.split('\n')) {
    let entry: { msg?: string; peers?: number; timing?: PassTiming };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    const t = entry.timing;
    if (entry.msg !== 'peers changed' || t === undefined || entry.peers !== target) continue;
    const done = t.passAt + (t.reloadDoneMs ?? t.passMs);
    if (done < trace.changeAt) continue;
    const seenAt = trace.seen?.section[pod];
    return {
      by: t.by === 'leading' ? 1 : 0,
      watchLag: t.waitedFromLastMs === undefined ? undefined : t.passAt - t.waitedFromLastMs - trace.changeAt,
      coalesced: t.waitedFromLastMs,
      file: t.fileWrittenMs,
      liveRead: t.liveReadMs,
      resyncWait: t.reloadSentMs === undefined ? undefined : t.reloadSentMs - (t.liveReadMs ?? 0),
      reload: t.reloadDoneMs === undefined ? undefined : t.reloadDoneMs - (t.reloadSentMs ?? 0),
      syncerDone: done - trace.changeAt,
      benchSaw: seenAt === undefined ? undefined : seenAt - done,
      total: seenAt === undefined ? undefined : seenAt - trace.changeAt,
    };
  }
  return undefined;
}

if (import.meta.main) {
  const FLAGS = {
    'pass-ms': { kind: 'number', defaultValue: 60, description: 'how long a pass that reloads takes' },
  } as const;
  const dir = process.argv[2];
  let passMs: number;
  try {
    ({ 'pass-ms': passMs } = parseFlags(FLAGS, process.argv.slice(3)));
    if (dir === undefined || dir.startsWith('--')) throw new FlagError(['the trace directory is missing']);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    process.stderr.write(
      `replay: ${err.problems.join('; ')}\nusage: node bench/replay.ts DIR\n${describeFlags(FLAGS)}\n`,
    );
    process.exit(2);
  }
  for (const file of readdirSync(dir).filter((f) => /^changes-.*\.json$/.test(f))) {
    const trace = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Trace;
    const changed = trace.events.filter((e, i) => i === 0 || e.set !== trace.events[i - 1]?.set);
    const offsets = changed.map((e) => e.at - trace.began).join(' ');
    console.log(
      `${file}: ${trace.events.length} changes, set changed at ${offsets} (final at ${trace.changeAt - trace.began})`,
    );
    for (const s of SETTINGS) {
      const r = await replay(trace, s, passMs);
      console.log(`  ${s.name.padEnd(24)} reloads ${r.reloads}  final change applied after ${r.finalMs} ms`);
    }
    const id = /^changes-(.*)\.json$/.exec(file)?.[1] ?? '';
    const stages = readdirSync(dir)
      .filter((f) => f.startsWith(`${id}-`) && f.endsWith('.log'))
      .map((f) => finalChangeStages(trace, f.slice(id.length + 1, -4), readFileSync(join(dir, f), 'utf8')))
      .filter((x) => x !== undefined);
    const keys = [...new Set(stages.flatMap((x) => Object.keys(x)))];
    const median = (k: string): string => {
      const v = stages.map((x) => x[k]).filter((n): n is number => n !== undefined);
      return v.length === 0 ? '-' : `${percentile(v, 50)} (${Math.min(...v)}–${Math.max(...v)})`;
    };
    console.log(`  final change on ${stages.length} replicas, median (min–max) ms:`);
    for (const k of keys) console.log(`    ${k.padEnd(12)} ${median(k)}`);
  }
}
