// The direct backend's version handling against a scripted master CLI (a unix socket answering with
// captured HAProxy output): an unknown version is refused before any reload; 3.0's reload answer is used.
// The same paths against the real 2.6.12 and 3.0.11 binaries: test/syncer-direct.test.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectBackend, ReloadRejectedError } from './direct.ts';
import { ERRORS, HaproxyError } from '../common/errors.ts';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const dirs: string[] = [];
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A master CLI that answers each command from `answers` and records what it was asked. */
async function fakeMaster(answers: (cmd: string) => string): Promise<{ dir: string; commands: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'hps-fake-master-'));
  dirs.push(dir);
  const commands: string[] = [];
  const server = createServer((sock) => {
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
    });
    sock.on('end', () => {
      const cmd = buf.trim();
      commands.push(cmd);
      sock.end(answers(cmd));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(join(dir, 'master.sock'), resolve));
  return { dir, commands };
}

const self = { name: 'pod-0', host: '10.244.0.10', port: 10000 };
const other = { name: 'pod-1', host: '10.244.0.11', port: 10000 };

test('an HAProxy version the syncer does not know is refused: the file is written for its next start, no reload, no guess', async () => {
  const proc = fixture('show-proc-2.6-ok.txt').replaceAll('2.6.12-1+deb12u4', '2.8.5-1');
  const { dir, commands } = await fakeMaster((cmd) => (cmd === 'show proc' ? proc : ''));
  const backend = new DirectBackend({ runtimeDir: dir, section: 'mypeers', localPeer: 'pod-0' });
  await assert.rejects(backend.sync([self, other]), (err: unknown) => {
    assert.ok(err instanceof HaproxyError);
    assert.equal(err.code, ERRORS.HPS_HAPROXY_VERSION.code);
    assert.match(err.message, /^HAProxy 2\.8\.5-1 is not a version this syncer knows/);
    return true;
  });
  assert.deepEqual(commands, ['show proc']);
  assert.match(readFileSync(backend.peersFile, 'utf8'), /peer pod-1 10\.244\.0\.11:10000/);
});

test("3.0: Success=0 is a rejected reload carrying HAProxy's error lines, and the previous file is put back", async () => {
  let reloads = 0;
  const { dir, commands } = await fakeMaster((cmd) => {
    if (cmd === 'show proc') return fixture('show-proc-3.0-ok.txt');
    if (cmd === '@1 show peers') return fixture('show-peers-3.0-unreachable.txt'); // resync over: no wait
    if (cmd === 'reload') {
      reloads++;
      return fixture('reload-3.0-failed.txt');
    }
    return '';
  });
  const backend = new DirectBackend({ runtimeDir: dir, section: 'mypeers', localPeer: 'pod-0' });
  writeFileSync(backend.peersFile, 'previous\n');
  await assert.rejects(backend.sync([self, other]), (err: unknown) => {
    assert.ok(err instanceof ReloadRejectedError);
    assert.equal(err.code, ERRORS.HPS_RELOAD_FAILED.code);
    assert.match(err.haproxyVersion, /^3\.0\.11-/);
    assert.equal(err.reasons.length, 3);
    assert.match(
      err.message,
      /rejected the configuration \(the previous worker keeps serving; the previous file was restored\): \[ALERT\].*unknown keyword 'this-is-not-a-keyword'/,
    );
    return true;
  });
  assert.equal(reloads, 1);
  // The synchronous answer is the result: no show proc polling after it.
  assert.deepEqual(commands, ['show proc', '@1 show peers', 'reload']);
  assert.equal(readFileSync(backend.peersFile, 'utf8'), 'previous\n');
});

test('3.0: Success=1 is a confirmed reload at once', async () => {
  const { dir, commands } = await fakeMaster((cmd) => {
    if (cmd === 'show proc') return fixture('show-proc-3.0-ok.txt');
    if (cmd === '@1 show peers') return fixture('show-peers-3.0-unreachable.txt');
    if (cmd === 'reload') return fixture('reload-3.0-ok.txt');
    return '';
  });
  const backend = new DirectBackend({ runtimeDir: dir, section: 'mypeers', localPeer: 'pod-0' });
  const r = await backend.sync([self, other]);
  assert.deepEqual([r.running, r.reloaded, r.haproxy?.branch], [true, true, '3.0']);
  assert.deepEqual(commands, ['show proc', '@1 show peers', 'reload']);
});
