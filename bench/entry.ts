/**
 * What every benchmark's entry point does first: read its flags (a bad one exits 2, naming it and
 * listing them all) and, for those that need the node, re-run inside the lab namespaces.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describeFlags, FlagError, parseFlags, type FlagSpec, type FlagValues } from './flags.ts';

/** `--runs`, as the scenario benchmarks take it. */
export const RUNS_FLAG = {
  kind: 'count',
  defaultValue: 3,
  min: 1,
  description: 'how many times every scenario runs (the JSON line gives the median and the spread)',
} as const;

/** Parses this process's flags against `spec`; on a bad flag prints the problems and the flags, exits 2. */
export function flagsOrExit<T extends Record<string, FlagSpec>>(spec: T, command: string): FlagValues<T> {
  try {
    return parseFlags(spec, process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    process.stderr.write(
      `${command}: ${err.problems.join('; ')}\nusage: npm run ${command} -- [flags]\n${describeFlags(spec)}\n`,
    );
    process.exit(2);
  }
}

/** The node exists only inside the lab namespaces: re-runs this command there when started outside. */
export function reRunInsideLab(): void {
  if (process.env['HPS_LAB_NETNS'] === '1') return;
  const root = resolve(import.meta.dirname, '..');
  const r = spawnSync('bash', [join(root, 'scripts/lab.sh'), process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}
