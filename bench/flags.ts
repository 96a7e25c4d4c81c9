/**
 * Flags of the benchmarks (`--name=value` or `--name value`, `--flag` for booleans). Pure: the caller
 * prints the problems and exits 2. Every problem is reported at once, each naming its flag.
 */

export type FlagSpec =
  | { readonly kind: 'count'; readonly defaultValue: number; readonly min?: number; readonly description: string }
  | { readonly kind: 'number'; readonly defaultValue: number; readonly description: string }
  | { readonly kind: 'boolean'; readonly description: string }
  | {
      readonly kind: 'string';
      readonly defaultValue?: string;
      readonly choices?: readonly string[];
      readonly description: string;
    };

type ValueOf<S extends FlagSpec> = S extends { kind: 'count' | 'number' }
  ? number
  : S extends { kind: 'boolean' }
    ? boolean
    : S extends { defaultValue: string }
      ? string
      : string | undefined;
export type FlagValues<T extends Record<string, FlagSpec>> = { readonly [K in keyof T]: ValueOf<T[K]> };

export class FlagError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

/** Parses `argv` against `spec`; throws a FlagError naming every bad or unknown flag. */
export function parseFlags<T extends Record<string, FlagSpec>>(spec: T, argv: readonly string[]): FlagValues<T> {
  const given = new Map<string, string | undefined>();
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    const name = m?.[1];
    if (name === undefined) {
      problems.push(`${arg}: not a flag (--name=value)`);
      continue;
    }
    const s = spec[name];
    if (s === undefined) {
      problems.push(`--${name}: unknown flag`);
      continue;
    }
    let value = m?.[2];
    if (value === undefined && s.kind !== 'boolean') {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) {
        problems.push(`--${name}: needs a value`);
        continue;
      }
      i++;
    }
    given.set(name, value);
  }
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(spec)) {
    const raw = given.get(name);
    const has = given.has(name);
    switch (s.kind) {
      case 'count': {
        const n = has ? Number(raw) : s.defaultValue;
        if (!Number.isInteger(n) || n < (s.min ?? 0))
          problems.push(`--${name}: must be a whole number ≥ ${s.min ?? 0}, got '${raw ?? ''}'`);
        out[name] = n;
        break;
      }
      case 'number': {
        const n = has ? Number(raw) : s.defaultValue;
        if (!Number.isFinite(n) || n < 0 || raw === '')
          problems.push(`--${name}: must be a number ≥ 0, got '${raw ?? ''}'`);
        out[name] = n;
        break;
      }
      case 'boolean':
        if (has && raw !== undefined && raw !== 'true' && raw !== 'false')
          problems.push(`--${name}: true or false, got '${raw}'`);
        out[name] = has && raw !== 'false';
        break;
      case 'string':
        if (has && s.choices !== undefined && !s.choices.includes(raw ?? ''))
          problems.push(`--${name}: one of ${s.choices.join(', ')}, got '${raw ?? ''}'`);
        out[name] = has ? raw : s.defaultValue;
        break;
    }
  }
  if (problems.length > 0) throw new FlagError(problems);
  return out as FlagValues<T>;
}

/** One line per flag, for the usage text. */
export function describeFlags(spec: Record<string, FlagSpec>): string {
  return Object.entries(spec)
    .map(([name, s]) => {
      const def =
        'defaultValue' in s && s.defaultValue !== undefined
          ? ` (default ${s.defaultValue === '' ? "''" : String(s.defaultValue)})`
          : '';
      return `  --${name}  ${s.description}${def}`;
    })
    .join('\n');
}
