// Runs `haproxy-peer-sync init` as the container would (a child process, configured by env vars) on a
// temp dir, twice.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../bin/haproxy-peer-sync.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hps-init-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function runInit(env: Record<string, string>, args: string[] = []) {
  return spawnSync(process.execPath, [cli, 'init', ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8' });
}
const env = { POD_NAME: 'haproxy-0', POD_IP: '127.0.0.10', HPS_RUNTIME_DIR: dir, HPS_PEERS_SECTION: 'sessions', HPS_PEER_PORT: '10001' };

test('init writes 0600 credentials with a new password each run, and the peers file once', () => {
  const first = runInit(env);
  assert.equal(first.status, 0, first.stderr);
  const password1 = readFileSync(join(dir, 'credentials/password'), 'utf8');
  assert.ok(password1.length >= 22, 'at least 128 bits in base64url');
  assert.equal(statSync(join(dir, 'credentials/password')).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'credentials/dataplaneapi.cfg')).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'credentials')).mode & 0o777, 0o700);
  assert.equal(readFileSync(join(dir, 'credentials/dataplaneapi.cfg'), 'utf8'), `userlist haproxy-dataplaneapi\n    user admin insecure-password ${password1}\n`);
  assert.equal(readFileSync(join(dir, 'peers.cfg'), 'utf8'),
    '# Written by haproxy-peer-sync: rewritten whenever the replica set changes. Do not edit.\n' +
    `global\n    localpeer haproxy-0\n    stats socket ${dir}/admin.sock mode 600 level admin\n\npeers sessions\n    peer haproxy-0 127.0.0.10:10001\n`);
  assert.ok(!first.stdout.includes(password1) && !first.stderr.includes(password1), 'the password is never logged');

  // The syncer has rewritten the peers file since: a second run must keep it.
  writeFileSync(join(dir, 'peers.cfg'), 'written by the syncer\n');
  const second = runInit(env);
  assert.equal(second.status, 0, second.stderr);
  const password2 = readFileSync(join(dir, 'credentials/password'), 'utf8');
  assert.notEqual(password2, password1);
  assert.equal(statSync(join(dir, 'credentials/password')).mode & 0o777, 0o600);
  assert.equal(readFileSync(join(dir, 'peers.cfg'), 'utf8'), 'written by the syncer\n');
});

test('a bad flag exits 2 naming it', () => {
  const res = runInit({ ...env, HPS_PEER_PORT: 'abc' });
  assert.equal(res.status, 2);
  assert.match(res.stderr, /--peer-port \(from HPS_PEER_PORT\): "abc" is not a port number/);
  const missing = runInit({ HPS_RUNTIME_DIR: dir });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--pod-name is required/);
});
