// `haproxy-peer-sync cli`, the README's troubleshooting command, against a real HAProxy: it prints the
// master CLI's answer; bad usage exits 2 naming the problem; an HAProxy that does not answer exits 1.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startHaproxy, type HaproxyReplica } from './harness/haproxy.ts';

const run = promisify(execFile);
const CLI = new URL('../bin/haproxy-peer-sync.ts', import.meta.url).pathname;
let haproxy: HaproxyReplica | undefined;
before(async () => {
  const ip = `127.0.5.${10 + Math.floor(Math.random() * 200)}`;
  haproxy = await startHaproxy({ name: 'cli-0', ip, peers: [{ name: 'cli-0', host: ip, port: 10000 }] });
});
after(async () => {
  await haproxy?.stop();
});

const cli = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'cli', ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

test("prints the master CLI's answer, for the master and for the current worker (@1)", async () => {
  assert.ok(haproxy);
  const proc = await cli(`--runtime-dir=${haproxy.dir}`, 'show', 'proc');
  assert.equal(proc.code, 0, proc.stderr);
  assert.match(proc.stdout, /^\d+\s+master\s+0 \[failed: 0\]/m);
  const peers = await cli(`--runtime-dir=${haproxy.dir}`, '@1 show peers');
  assert.match(peers.stdout, /id=cli-0\(local/);
});

test('bad usage exits 2 naming the problem; no HAProxy exits 1 naming the socket', async () => {
  const none = await cli();
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no command given/);
  const flag = await cli('--bogus', 'show proc');
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /--bogus/);
  const absent = await cli('--runtime-dir=/nonexistent', 'show proc');
  assert.equal(absent.code, 1);
  assert.match(absent.stderr, /\/nonexistent\/master\.sock/);
});
