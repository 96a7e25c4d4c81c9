/**
 * The pinned Helm (scripts/build-go-binaries.sh) run on the chart in deploy/helm/, and kubectl's own
 * kustomize on deploy/, for the tests that compare, validate and install them. Helm keeps its
 * configuration, cache and data in a temporary directory of its own, never in the user's home.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { defaultBinDir } from './control-plane.ts';
import { REPO_ROOT } from './sandbox.ts';

const run = promisify(execFile);

export const CHART = join(REPO_ROOT, 'deploy/helm/haproxy-peer-sync');
/** The release name and namespace the README installs with; deploy/ uses the same namespace. */
export const RELEASE = 'haproxy-peer-sync';
export const RELEASE_NAMESPACE = 'haproxy-peer-sync-system';

/** A Kubernetes object as rendered: only what the comparisons read is typed. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  readonly [field: string]: unknown;
}

/** `Kind namespace/name` (cluster-scoped: `Kind name`), how the tests name an object. */
export const objectKey = (o: KubeObject): string =>
  `${o.kind} ${o.metadata.namespace === undefined ? '' : `${o.metadata.namespace}/`}${o.metadata.name}`;

/** Every object of a multi-document YAML text (empty documents, as Helm leaves them, skipped). */
export function parseObjects(text: string): KubeObject[] {
  return YAML.parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

function binary(name: string): string {
  const path = join(defaultBinDir(), name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run bash scripts/setup.sh (it builds ${name})`);
  return path;
}

const helmHome = mkdtempSync(join(tmpdir(), 'hps-helm-home-'));
process.once('exit', () => {
  rmSync(helmHome, { recursive: true, force: true });
});

/** Result of a command that may fail: the tests read its exit code and both streams. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the pinned helm; never throws for a non-zero exit. */
export async function helm(...args: string[]): Promise<CommandResult> {
  const env = {
    ...process.env,
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_DATA_HOME: join(helmHome, 'data'),
  };
  try {
    const { stdout, stderr } = await run(binary('helm'), args, { cwd: REPO_ROOT, env, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

/**
 * `helm template` of the chart as the README installs it (release name and namespace), with `--set`
 * style values; throws with Helm's message when it refuses the values.
 */
export async function renderChart(...set: string[]): Promise<KubeObject[]> {
  const r = await helm(
    'template',
    RELEASE,
    CHART,
    '--namespace',
    RELEASE_NAMESPACE,
    ...set.flatMap((s) => ['--set', s]),
  );
  if (r.code !== 0) throw new Error(`helm template ${set.join(' ')}: ${r.stderr.trim()}`);
  return parseObjects(r.stdout);
}

/** `kubectl kustomize deploy/`: what `kubectl apply -k deploy/` applies. */
export async function renderKustomize(dir = 'deploy/'): Promise<KubeObject[]> {
  const { stdout } = await run(binary('kubectl'), ['kustomize', dir], { cwd: REPO_ROOT, maxBuffer: 16 << 20 });
  return parseObjects(stdout);
}
