/**
 * `npm run image` (scripts/image.sh), as a user who wants our image in their own registry runs it: it
 * writes an OCI archive where asked, prints where and under which name, and the image in it carries the
 * OCI labels a registry shows (source, version, licence) and runs as the Dockerfile says. It is the very
 * image the tests run on the node. Needs root (buildah), like scripts/build-images.sh, which it uses.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { readOciArchive, type ArchivedImage } from './harness/oci-archive.ts';
import { REPO_ROOT } from './harness/sandbox.ts';

const run = promisify(execFile);
const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string; license: string };

const image = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const { stdout, stderr } = await run('bash', [join(REPO_ROOT, 'scripts/image.sh'), ...args], {
      maxBuffer: 16 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

let dir = '';
let printed: string[] = [];
let built: ArchivedImage | undefined;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hps-image-'));
  const result = await image('--output', join(dir, 'out', 'hps.oci.tar'));
  assert.equal(result.code, 0, result.stderr);
  printed = result.stdout.trim().split('\n');
  built = await readOciArchive(join(dir, 'out', 'hps.oci.tar'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('writes the archive where --output says, and prints its path and the image name', async () => {
  const expectedName = `ghcr.io/haproxy-peer-sync/haproxy-peer-sync:${pkg.version}`;
  assert.deepEqual(printed, [join(dir, 'out', 'hps.oci.tar'), expectedName]);
  assert.ok((await stat(printed[0] ?? '')).size > 10 << 20, 'an archive with the layers in it');
  // `podman load` and `skopeo copy oci-archive:` take the name from here.
  assert.equal(built?.refName, expectedName);
});

test('the image carries the OCI labels: source, version (package.json), licence (package.json)', () => {
  const labels = built?.labels ?? {};
  assert.equal(labels['org.opencontainers.image.version'], pkg.version);
  assert.equal(labels['org.opencontainers.image.licenses'], pkg.license);
  assert.match(labels['org.opencontainers.image.source'] ?? '', /^https:\/\/\S+$/);
  assert.equal(labels['org.opencontainers.image.title'], 'haproxy-peer-sync');
});

test('the image runs every role through one entrypoint, as a non-root user, on linux/amd64', () => {
  assert.deepEqual(built?.entrypoint, ['haproxy-peer-sync']);
  assert.equal(built?.user, '65532:65532');
  assert.deepEqual([built?.os, built?.architecture], ['linux', 'amd64']);
});

test('it is the image the node runs in the tests (same manifest as in the image index of setup)', async () => {
  const index = await readFile(
    join(process.env['HPS_CACHE'] ?? join(process.env['HOME'] ?? '', '.cache/haproxy-peer-sync'), 'images/index.txt'),
    'utf8',
  );
  const archive = index
    .split('\n')
    .map((l) => l.split(' '))
    .find(([, name]) => name === printed[1])?.[0];
  assert.ok(archive !== undefined, `index.txt lists ${printed[1]}`);
  const manifestOf = async (file: string): Promise<string> => (await run('tar', ['-xOf', file, 'index.json'])).stdout;
  assert.equal(await manifestOf(printed[0] ?? ''), await manifestOf(archive));
});

test('a bad argument exits 2 naming it, before building anything', async () => {
  const unknown = await image('--bogus');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown argument: --bogus/);
  const empty = await image('--output');
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /usage: /);
});
