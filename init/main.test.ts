// Runs `haproxy-peer-sync init` as the container would (a child process, configured by env vars) on a
// temp dir, twice.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const cli = fileURLToPath(new URL('../bin/haproxy-peer-sync.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hps-init-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function runInit(env: Record<string, string>, args: string[] = []) {
  return spawnSync(process.execPath, [cli, 'init', ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    encoding: 'utf8',
  });
}
const env = {
  POD_NAME: 'haproxy-0',
  POD_IP: '127.0.0.10',
  HPS_RUNTIME_DIR: dir,
  HPS_PEERS_SECTION: 'sessions',
  HPS_PEER_PORT: '10001',
};

test('direct mode (the default) writes the peers file and no password', () => {
  const res = runInit(env);
  assert.equal(res.status, 0, res.stderr);
  assert.equal(
    readFileSync(join(dir, 'peers.cfg'), 'utf8'),
    '# Written by haproxy-peer-sync: rewritten whenever the replica set changes. Do not edit.\n' +
      `global\n    localpeer haproxy-0\n    stats socket ${dir}/admin.sock mode 600 level admin\n\npeers sessions\n    peer haproxy-0 127.0.0.10:10001\n`,
  );
  assert.equal(existsSync(join(dir, 'credentials')), false, 'nothing would read a password');
  rmSync(join(dir, 'peers.cfg'));
});

test("mode dataplaneapi writes 0600 credentials with a new password each run, the API's files, and the peers file once", () => {
  const apiEnv = {
    ...env,
    HPS_MODE: 'dataplaneapi',
    HPS_DATAPLANEAPI_URL: 'http://127.0.0.1:5556',
    HPS_DATAPLANEAPI_BINARY: '/opt/api/dataplaneapi',
  };
  const first = runInit(apiEnv);
  assert.equal(first.status, 0, first.stderr);
  const password1 = readFileSync(join(dir, 'credentials/password'), 'utf8');
  assert.ok(password1.length >= 22, 'at least 128 bits in base64url');
  for (const file of ['password', 'dataplaneapi.cfg', 'dataplaneapi.yml'])
    assert.equal(statSync(join(dir, 'credentials', file)).mode & 0o777, 0o600, file);
  assert.equal(statSync(join(dir, 'credentials')).mode & 0o777, 0o700);
  const haproxyFile = readFileSync(join(dir, 'credentials/dataplaneapi.cfg'), 'utf8');
  assert.ok(haproxyFile.includes(`userlist haproxy-dataplaneapi\n    user admin insecure-password ${password1}\n`));
  assert.ok(haproxyFile.includes(`command /opt/api/dataplaneapi -f ${dir}/credentials/dataplaneapi.yml\n`));
  const yaml = YAML.parse(readFileSync(join(dir, 'credentials/dataplaneapi.yml'), 'utf8')) as {
    dataplaneapi: { port: number; transaction: { transaction_dir: string } };
    haproxy: { config_file: string };
  };
  assert.equal(yaml.dataplaneapi.port, 5556);
  assert.equal(yaml.haproxy.config_file, join(dir, 'peers.cfg'));
  assert.ok(statSync(yaml.dataplaneapi.transaction.transaction_dir).isDirectory(), "the API's directories exist");
  assert.match(
    readFileSync(join(dir, 'peers.cfg'), 'utf8'),
    /^peers sessions\n    peer haproxy-0 127\.0\.0\.10:10001$/m,
  );
  assert.ok(![first.stdout, first.stderr].some((out) => out.includes(password1)), 'the password is never logged');

  // The peers file has been rewritten since (by the API): a second run must keep it.
  writeFileSync(join(dir, 'peers.cfg'), 'written by the Data Plane API\n');
  const second = runInit(apiEnv);
  assert.equal(second.status, 0, second.stderr);
  const password2 = readFileSync(join(dir, 'credentials/password'), 'utf8');
  assert.notEqual(password2, password1);
  assert.ok(
    readFileSync(join(dir, 'credentials/dataplaneapi.cfg'), 'utf8').includes(password2),
    "HAProxy's userlist has the new password too",
  );
  assert.equal(statSync(join(dir, 'credentials/password')).mode & 0o777, 0o600);
  assert.equal(readFileSync(join(dir, 'peers.cfg'), 'utf8'), 'written by the Data Plane API\n');
});

test('a bad flag exits 2 naming it', () => {
  const res = runInit({ ...env, HPS_PEER_PORT: 'abc' });
  assert.equal(res.status, 2);
  assert.match(res.stderr, /--peer-port \(from HPS_PEER_PORT\): "abc" is not a port number/);
  const https = runInit({ ...env, HPS_MODE: 'dataplaneapi', HPS_DATAPLANEAPI_URL: 'https://127.0.0.1:5555' });
  assert.equal(https.status, 2);
  assert.match(
    https.stderr,
    /--dataplaneapi-url \(from HPS_DATAPLANEAPI_URL\): "https:\/\/127\.0\.0\.1:5555\/" is not an http:\/\/ URL/,
  );
  const relative = runInit({ ...env, HPS_MODE: 'dataplaneapi', HPS_DATAPLANEAPI_BINARY: 'dataplaneapi' });
  assert.equal(relative.status, 2);
  assert.match(
    relative.stderr,
    /--dataplaneapi-binary \(from HPS_DATAPLANEAPI_BINARY\): "dataplaneapi" is not an absolute path without spaces/,
  );
  const missing = runInit({ HPS_RUNTIME_DIR: dir });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--pod-name is required/);
});
