/**
 * The lab's "image registry": which local program a container image stands for. A container's argv is
 * built with the container-runtime rules (ENTRYPOINT/CMD vs the pod's `command`/`args`), then its first
 * word is looked up in the image's programs, so that what the webhook injected is exactly what runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root of the running code (not a hard-coded checkout path). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The HAProxy binary every HAProxy image maps to (Debian's package). */
export const HAPROXY_BINARY = '/usr/sbin/haproxy';

/**
 * The image the examples use for the sticky backend (`examples/sticky-backend.yaml`); the lab runs
 * `test/harness/sticky-backend.ts` for it, which answers like traefik/whoami.
 */
export const STICKY_BACKEND_IMAGE = 'traefik/whoami:v1.10.3';

/** What the runner knows about the pod when it turns an image's program into a local argv. */
export interface ProgramContext {
  readonly podIP: string;
  /**
   * Whether the pod has a network namespace of its own. Without one, the pod IP is the lab's stand-in
   * for "every address of my network namespace", and a program that would listen on 0.0.0.0 is told to
   * listen on the pod IP instead.
   */
  readonly ownNetwork: boolean;
}

/** Maps the words after a program name to the local argv that runs it. */
export type Program = (rest: readonly string[], ctx: ProgramContext) => string[];

/** One entry of the image table. */
export interface LabImage {
  /** Short name, for messages. */
  readonly name: string;
  /** Whether an image reference (its repository, without tag or digest) is this image. */
  matches(repository: string): boolean;
  /** The image's ENTRYPOINT and CMD, as its Dockerfile declares them. */
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  /** Programs the image ships, by base name (`/usr/local/bin/haproxy` and `haproxy` are the same). */
  readonly programs: Readonly<Record<string, Program>>;
  /**
   * Whether any other program (`sh`, `cat`, …) resolves to the host's copy: true for images with a
   * Debian/busybox userland, false for images that ship only their program, so an exec probe or a
   * `command: [sh, -c, …]` that would fail in the real image also fails here.
   */
  readonly hostTools: boolean;
  /** The image's WORKDIR (the container's cwd when it sets no workingDir). */
  readonly workingDir?: string;
}

const NODE_VERSION = readNodeVersion();

/**
 * The pinned Node (scripts/versions.env): the running one when it is that version, else the cached
 * copy that scripts/setup.sh installs.
 */
export const NODE_BINARY = process.version === `v${NODE_VERSION}`
  ? process.execPath
  : join(homedir(), '.cache', 'haproxy-peer-sync', `node-${NODE_VERSION}`, 'bin', 'node');

function readNodeVersion(): string {
  const text = readFileSync(join(REPO_ROOT, 'scripts', 'versions.env'), 'utf8');
  const match = /^NODE_VERSION=(\S+)/m.exec(text);
  if (match?.[1] === undefined) throw new Error('scripts/versions.env has no NODE_VERSION');
  return match[1];
}

const node: Program = (rest) => [NODE_BINARY, ...rest];
const cli = join(REPO_ROOT, 'bin', 'haproxy-peer-sync.ts');
const stickyBackend = join(REPO_ROOT, 'test', 'harness', 'sticky-backend.ts');

const whoami: Program = (rest, ctx) => [NODE_BINARY, stickyBackend, ...(ctx.ownNetwork ? [] : [`--lab-bind=${ctx.podIP}`]), ...rest];

const repositoryIs = (...names: string[]) => (repository: string): boolean =>
  names.some((n) => repository === n || repository.endsWith(`/${n}`));

/**
 * The image table. Exported so the kubelet stand-in, the examples and the tests agree on names.
 * - `haproxy` (e.g. `haproxy:2.6`, `docker.io/library/haproxy:lts`): the official image's
 *   docker-entrypoint.sh semantics (a first argument starting with `-` means `haproxy …`; `haproxy`
 *   gets `-W -db`), default CMD `haproxy -f /usr/local/etc/haproxy/haproxy.cfg`.
 * - `…/haproxy-peer-sync`: our Dockerfile, ENTRYPOINT `haproxy-peer-sync` → the CLI under pinned Node.
 * - `…/whoami` or `…/sticky-backend`: ENTRYPOINT `/whoami` → sticky-backend.ts (bound to the pod IP
 *   when the pod shares the runner's network).
 * - `busybox`: the host's tools, for init containers and exec probes in tests.
 */
export const LAB_IMAGES: readonly LabImage[] = [
  {
    name: 'haproxy',
    matches: repositoryIs('haproxy'),
    entrypoint: ['docker-entrypoint.sh'],
    cmd: ['haproxy', '-f', '/usr/local/etc/haproxy/haproxy.cfg'],
    programs: {
      haproxy: (rest) => [HAPROXY_BINARY, ...rest],
      // Mirrors the official image's entrypoint script, which only rewrites its arguments.
      'docker-entrypoint.sh': (rest, ctx) => {
        let args = [...rest];
        if (args[0]?.startsWith('-') === true) args = ['haproxy', ...args];
        if (args[0] === 'haproxy') args = ['haproxy', '-W', '-db', ...args.slice(1)];
        const resolved = resolveArgv(HAPROXY_IMAGE, args, ctx);
        if ('error' in resolved) throw new Error(resolved.error);
        return resolved.argv;
      },
    },
    hostTools: true,
  },
  {
    name: 'haproxy-peer-sync',
    matches: repositoryIs('haproxy-peer-sync'),
    entrypoint: ['haproxy-peer-sync'],
    cmd: [],
    programs: { 'haproxy-peer-sync': (rest) => [NODE_BINARY, cli, ...rest], node },
    hostTools: false,
    // The Dockerfile's WORKDIR /app holds the sources and node_modules: here, the repository.
    workingDir: REPO_ROOT,
  },
  {
    name: 'sticky-backend',
    matches: repositoryIs('whoami', 'sticky-backend'),
    entrypoint: ['/whoami'],
    cmd: [],
    programs: { whoami: whoami, 'sticky-backend': whoami },
    hostTools: false,
  },
  {
    name: 'busybox',
    matches: repositoryIs('busybox'),
    entrypoint: [],
    cmd: ['sh'],
    programs: {},
    hostTools: true,
  },
];

const HAPROXY_IMAGE = LAB_IMAGES[0] as LabImage;

/**
 * The repository part of an image reference: `docker.io/library/haproxy:2.6@sha256:…` →
 * `docker.io/library/haproxy`. A `:` only starts a tag after the last `/` (a registry may have a port).
 */
export function imageRepository(image: string): string {
  const noDigest = image.split('@')[0] ?? image;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

/** The table entry for an image reference, or undefined when the lab has no program for it. */
export function findImage(image: string, table: readonly LabImage[] = LAB_IMAGES): LabImage | undefined {
  const repository = imageRepository(image);
  return table.find((entry) => entry.matches(repository));
}

/**
 * The argv the runtime would exec, before mapping to local programs: `command` replaces ENTRYPOINT
 * (and drops CMD), `args` replaces CMD.
 * @see https://kubernetes.io/docs/tasks/inject-data-application/define-command-argument-container/#notes
 */
export function imageArgv(image: LabImage, command: readonly string[] | undefined, args: readonly string[] | undefined): string[] {
  if (command !== undefined && command.length > 0) return [...command, ...(args ?? [])];
  return [...image.entrypoint, ...(args !== undefined && args.length > 0 ? args : image.cmd)];
}

const HOST_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * Maps an in-image argv to a local one: its first word is one of the image's programs, or (for images
 * with a userland) a host program. Returns the error the runtime would give otherwise.
 */
export function resolveArgv(image: LabImage, argv: readonly string[], ctx: ProgramContext): { argv: string[] } | { error: string } {
  const [first, ...rest] = argv;
  if (first === undefined) return { error: `image ${image.name} has no entrypoint and the container no command` };
  const program = image.programs[basename(first)];
  if (program !== undefined) {
    try {
      return { argv: program(rest, ctx) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }
  if (image.hostTools) {
    const candidates = first.includes('/') ? [first] : HOST_PATH.map((dir) => join(dir, first));
    const found = candidates.find((path) => existsSync(path));
    if (found !== undefined) return { argv: [found, ...rest] };
  }
  return { error: `exec: "${first}": executable file not found in image ${image.name} (lab image table: test/harness/pod-runner-images.ts)` };
}
