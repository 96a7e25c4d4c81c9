/**
 * The init container's shell script (webhook/first-peers.ts), run by a real /bin/sh: it must write the
 * very file the Node init writes (syncer/peers.ts's renderPeersFile with the local peer alone), leave an
 * existing one alone, and run nothing a value holds. In test/ because webhook/ and syncer/ never import
 * each other.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { firstPeersScript } from '../webhook/first-peers.ts';
import { renderPeersFile } from '../syncer/peers.ts';
import { runtimePaths } from '../common/contract.ts';

function run(env: Record<string, string>): { status: number | null; stderr: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hps-first-peers-'));
  const r = spawnSync('/bin/sh', ['-c', firstPeersScript()], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HPS_RUNTIME_DIR: dir, ...env },
    encoding: 'utf8',
  });
  return { status: r.status, stderr: r.stderr, dir };
}

const POD = { POD_NAME: 'web-7d9f-abc12', HPS_PEERS_SECTION: 'haproxy-peers', HPS_PEER_PORT: '10000' };

for (const ip of ['10.244.0.11', 'fd00:10:244::b']) {
  test(`writes what the Node init writes, the local peer alone (${ip})`, (t) => {
    const { status, stderr, dir } = run({ ...POD, POD_IP: ip });
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    assert.equal(status, 0, stderr);
    const file = runtimePaths(dir).peers;
    const expected = renderPeersFile({
      localPeer: POD.POD_NAME,
      adminSocket: runtimePaths(dir).adminSocket,
      section: POD.HPS_PEERS_SECTION,
      peers: [{ name: POD.POD_NAME, host: ip, port: 10000 }],
    });
    assert.equal(readFileSync(file, 'utf8'), expected);
    assert.equal(statSync(file).mode & 0o777, 0o644);
    assert.deepEqual(readdirSync(dir), ['peers.cfg'], 'no temporary file left behind');
  });
}

test('an existing peers file is left as it is (a restarted init container must not undo the syncer)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hps-first-peers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'peers.cfg'), 'the syncer wrote this\n');
  const r = spawnSync('/bin/sh', ['-c', firstPeersScript()], {
    env: { ...POD, POD_IP: '10.244.0.11', HPS_RUNTIME_DIR: dir },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(dir, 'peers.cfg'), 'utf8'), 'the syncer wrote this\n');
});

test('a value is written as text, never run', (t) => {
  const { status, stderr, dir } = run({
    ...POD,
    POD_NAME: 'x$(touch pwned)`touch pwned2`',
    HPS_PEERS_SECTION: "s'; touch pwned3; '",
    POD_IP: '10.244.0.11',
  });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(status, 0, stderr);
  const text = readFileSync(join(dir, 'peers.cfg'), 'utf8');
  assert.match(text, /localpeer x\$\(touch pwned\)`touch pwned2`\n/);
  assert.match(text, /peers s'; touch pwned3; '\n/);
  for (const f of ['pwned', 'pwned2', 'pwned3']) assert.equal(existsSync(join(dir, f)) || existsSync(f), false, f);
});

test('a missing variable fails the container, naming it, and writes nothing', (t) => {
  const { status, stderr, dir } = run({ POD_NAME: 'web-1', HPS_PEERS_SECTION: 'p', HPS_PEER_PORT: '10000' });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.notEqual(status, 0);
  assert.match(stderr, /POD_IP/);
  assert.deepEqual(readdirSync(dir), []);
});
