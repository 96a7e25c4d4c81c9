import { isIP } from 'node:net';
import { flagEnv } from './contract.ts';
import { ConfigError } from './errors.ts';

/**
 * One command-line option of a role. Every option can also come from an environment variable, so the
 * webhook can fill a sidecar's settings from the pod spec; the flag wins over the variable.
 */
export interface OptionSpec<T> {
  readonly flag: string; // without the leading dashes, e.g. "peer-port"
  readonly env: string; // its environment variable (common/contract.ts flagEnv)
  readonly description: string;
  readonly parse: (raw: string) => T; // throws an Error whose message says what is wrong
  readonly defaultValue?: T | undefined;
  readonly required?: boolean;
  readonly secret?: boolean; // never echoed in --help defaults or in the logged configuration
}

/** An option that always has a value after parsing: it has a default, or parsing fails without it. */
type Always<T> = OptionSpec<T> & ({ readonly defaultValue: T } | { readonly required: true });

/** Parsed values: an option with a default or `required: true` is never undefined. */
export type OptionValues<S extends Record<string, OptionSpec<unknown>>> = {
  readonly [K in keyof S]: S[K] extends OptionSpec<infer T> ? (S[K] extends Always<T> ? T : T | undefined) : never;
};

/** What {@link option} takes: `env` defaults to the flag's own variable (common/contract.ts flagEnv). */
type OptionInput<T> = Omit<OptionSpec<T>, 'env'> & { readonly env?: string };

/**
 * Declares an option. The overloads keep whether a default or `required: true` was given, so
 * {@link parseOptions} types those values as always present and no loader restates a default.
 */
export function option<T>(
  spec: OptionInput<T> & { readonly defaultValue: T },
): OptionSpec<T> & { readonly defaultValue: T };
export function option<T>(
  spec: OptionInput<T> & { readonly required: true },
): OptionSpec<T> & { readonly required: true };
export function option<T>(spec: OptionInput<T>): OptionSpec<T>;
export function option<T>(spec: OptionInput<T>): OptionSpec<T> {
  return { ...spec, env: spec.env ?? flagEnv(spec.flag) };
}

/**
 * Reads `--flag value` / `--flag=value` from argv and the matching environment variables. Every problem
 * (unknown flag, missing value, bad value, missing required option) is collected and thrown together
 * as one ConfigError naming each flag, so a user fixes them all in one go.
 */
export function parseOptions<S extends Record<string, OptionSpec<unknown>>>(
  specs: S,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): OptionValues<S> {
  const problems: string[] = [];
  const byFlag = new Map(Object.entries(specs).map(([key, spec]) => [spec.flag, key]));
  const raw = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) {
      problems.push(`unexpected argument "${arg}"`);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = arg.slice(2, eq === -1 ? undefined : eq);
    const key = byFlag.get(flag);
    if (key === undefined) {
      problems.push(`unknown flag --${flag}`);
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !(argv[i + 1] ?? '').startsWith('--')) value = argv[++i];
    if (value === undefined) {
      problems.push(`--${flag} needs a value`);
      continue;
    }
    raw.set(key, value);
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const value = raw.get(key) ?? nonEmpty(env[spec.env]);
    const source = raw.has(key) ? `--${spec.flag}` : `--${spec.flag} (from ${spec.env})`;
    if (value === undefined) {
      if (spec.required && spec.defaultValue === undefined)
        problems.push(`--${spec.flag} is required (or set ${spec.env})`);
      out[key] = spec.defaultValue;
      continue;
    }
    try {
      out[key] = spec.parse(value);
    } catch (err) {
      problems.push(`${source}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as OptionValues<S>;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** The --help text: every flag with its environment variable and default; secrets' defaults hidden. */
export function renderHelp(usage: string, specs: Record<string, OptionSpec<unknown>>): string {
  const lines = [usage, '', 'Options (each can also be set by the environment variable shown):'];
  for (const spec of Object.values(specs)) {
    const def = spec.secret
      ? ''
      : spec.defaultValue !== undefined
        ? ` (default: ${formatDefault(spec.defaultValue)})`
        : spec.required
          ? ' (required)'
          : '';
    lines.push(`  --${spec.flag.padEnd(26)} ${spec.env.padEnd(30)} ${spec.description}${def}`);
  }
  lines.push(`  --${'help'.padEnd(26)} ${''.padEnd(30)} show this text`);
  return lines.join('\n');
}

function formatDefault(value: unknown): string {
  if (Array.isArray(value)) return value.join(',');
  if (value instanceof URL) return value.href;
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : JSON.stringify(value);
}

/** Values safe to log: secret options replaced. */
export function redactOptions(
  specs: Record<string, OptionSpec<unknown>>,
  values: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs))
    out[key] = spec.secret && values[key] !== undefined ? '[redacted]' : values[key];
  return out;
}

// Small parsers shared by every role. Each throws with a message that says what was expected.
export const parse = {
  string: (raw: string): string => raw,
  port: (raw: string): number => {
    if (!/^\d+$/.test(raw)) throw new Error(`"${raw}" is not a port number (1-65535)`);
    const n = Number(raw);
    if (n < 1 || n > 65535) throw new Error(`${n} is not a port number (1-65535)`);
    return n;
  },
  portOrZero: (raw: string): number => (raw === '0' ? 0 : parse.port(raw)),
  durationMs: (raw: string): number => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw);
    if (!m) throw new Error(`"${raw}" is not a duration (e.g. 250ms, 2s, 1m)`);
    const unit = m[2] ?? 'ms';
    return Math.round(Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60000));
  },
  oneOf:
    <T extends string>(...allowed: T[]) =>
    (raw: string): T => {
      if (!(allowed as string[]).includes(raw)) throw new Error(`"${raw}" is not one of ${allowed.join(', ')}`);
      return raw as T;
    },
  boolean: (raw: string): boolean => {
    if (['true', '1', 'yes'].includes(raw)) return true;
    if (['false', '0', 'no'].includes(raw)) return false;
    throw new Error(`"${raw}" is not true or false`);
  },
  /** A DNS-1123 label: Kubernetes object names, HAProxy section names we generate. */
  dnsLabel: (raw: string): string => {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(raw)) throw new Error(`"${raw}" is not a valid DNS-1123 label`);
    return raw;
  },
  /** An HAProxy identifier (section, peer or table name). */
  haproxyName: (raw: string): string => {
    if (!/^[A-Za-z0-9_.:-]+$/.test(raw))
      throw new Error(`"${raw}" may use only letters, digits, "-", "_", "." and ":"`);
    return raw;
  },
  /** An IPv4 or IPv6 address, as the downward API gives `status.podIP`. */
  ipAddress: (raw: string): string => {
    if (isIP(raw) === 0) throw new Error(`"${raw}" is not an IP address`);
    return raw;
  },
  /** An absolute path, without trailing slashes (volume mounts, files in them). */
  absolutePath: (raw: string): string => {
    if (!raw.startsWith('/')) throw new Error(`"${raw}" is not an absolute path`);
    return raw.replace(/\/+$/, '') || '/';
  },
  /**
   * An absolute path HAProxy reads from its command line or writes into its configuration (the peers
   * file's `stats socket` line): a space there would split it, so none is accepted.
   */
  haproxyPath: (raw: string): string => {
    if (!/^\/\S*$/.test(raw)) throw new Error(`"${raw}" is not an absolute path without spaces`);
    return raw.replace(/\/+$/, '') || '/';
  },
  url: (raw: string): URL => {
    try {
      return new URL(raw);
    } catch {
      throw new Error(`"${raw}" is not a URL`);
    }
  },
};
