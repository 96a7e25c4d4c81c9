// The direct backend against a real HAProxy: write + reload + confirm, no reload when nothing changed,
// a rejected file restored with the old worker still serving, and a first file written before start.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHaproxy, waitFor, type HaproxyReplica } from './harness/haproxy.ts';
import { DirectBackend } from '../syncer/direct.ts';
import { HaproxyError } from '../common/errors.ts';

const base = 10 + Math.floor(Math.random() * 200);
const ip = (i: number): string => `127.0.4.${base + i}`;
const dir = mkdtempSync(join(tmpdir(), 'hps-direct-'));
let haproxy: HaproxyReplica | undefined;
after(async () => { await haproxy?.stop(); rmSync(dir, { recursive: true, force: true }); });

const self = { name: 'pod-0', host: ip(0), port: 10000 };
const other = { name: 'pod-1', host: ip(1), port: 10000 };
const backend = new DirectBackend({ runtimeDir: dir, section: 'haproxy-peers', localPeer: 'pod-0' });

test('before HAProxy starts, the file is written and no reload is attempted', async () => {
  const r = await backend.sync([self]);
  assert.deepEqual([r.running, r.fileChanged, r.reloaded], [false, true, false]);
  assert.match(readFileSync(backend.peersFile, 'utf8'), /localpeer pod-0[\s\S]*peer pod-0 127\.0\.4\.\d+:10000/);
  haproxy = await startHaproxy({ name: 'pod-0', ip: ip(0), dir });
  const again = await backend.sync([self]);
  assert.deepEqual([again.running, again.fileChanged, again.reloaded], [true, false, false]);
});

test('a new peer costs one write and one confirmed reload; the same set again costs nothing', async () => {
  assert.ok(haproxy);
  const before = await haproxy.reloadCount();
  const r = await backend.sync([self, other]);
  assert.deepEqual([r.fileChanged, r.reloaded], [true, true]);
  assert.equal(await haproxy.reloadCount(), before + 1);
  const section = await haproxy.showPeers();
  assert.deepEqual(section?.peers.map((p) => p.name).sort(), ['pod-0', 'pod-1']);
  const same = await backend.sync([other, self]);
  assert.deepEqual([same.fileChanged, same.reloaded], [false, false]);
  assert.equal(await haproxy.reloadCount(), before + 1);
});

test('a rejected configuration: error reported, previous file restored, old worker keeps its table', async () => {
  assert.ok(haproxy);
  await haproxy.setTable('kept', 3);
  const good = readFileSync(backend.peersFile, 'utf8');
  // A user config that breaks on reload stands in for any file HAProxy refuses.
  const userCfg = join(dir, 'user.cfg');
  const userGood = readFileSync(userCfg, 'utf8');
  writeFileSync(userCfg, `${userGood}\nthis-is-not-a-keyword\n`);
  const third = { name: 'pod-2', host: ip(2), port: 10000 };
  await assert.rejects(backend.sync([self, other, third]), (err: unknown) => err instanceof HaproxyError && err.code === 'HPS_RELOAD_FAILED');
  assert.equal(readFileSync(backend.peersFile, 'utf8'), good);
  assert.match((await haproxy.showTable()).get('kept') ?? '', /gpc0=3/);
  writeFileSync(userCfg, userGood);
  const r = await backend.sync([self, other, third]);
  assert.equal(r.reloaded, true);
  // The new worker was taught the table by the old one through the local peer.
  const row = await waitFor('the entry on the new worker', async () => (await haproxy?.showTable())?.get('kept'));
  assert.match(row, /gpc0=3/);
});
