import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  failureLines,
  masterInstance,
  parseReloadAnswer,
  parseShowProc,
  reloadOutcome,
  sameMaster,
} from './show-proc.ts';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const failed = parseShowProc(fixture('show-proc-2.6-failed.txt'));
const ok = parseShowProc(fixture('show-proc-2.6-ok.txt'));

test('parses the master line (with the version), current and old workers', () => {
  assert.deepEqual(failed, {
    masterPid: 18645,
    reloads: 2,
    failed: 1,
    workers: [18657],
    oldWorkers: [18648],
    version: '2.6.12-1+deb12u4',
    uptimeSeconds: 2,
  });
  assert.deepEqual(ok?.oldWorkers, [18657, 18648]);
  assert.equal(parseShowProc('Unknown command'), undefined);
});

test('3.0 prints show proc the same way', () => {
  const ok30 = parseShowProc(fixture('show-proc-3.0-ok.txt'));
  const failed30 = parseShowProc(fixture('show-proc-3.0-failed.txt'));
  assert.ok(ok30 && failed30);
  assert.match(ok30.version ?? '', /^3\.0\.11-/);
  assert.deepEqual([ok30.reloads, ok30.failed, ok30.workers.length, ok30.oldWorkers], [1, 0, 1, []]);
  assert.deepEqual([failed30.reloads, failed30.failed, failed30.workers], [2, 1, ok30.workers]);
  assert.equal(reloadOutcome(ok30, failed30), 'failed');
});

test('reload outcome: pending until the counter moves, failed when failures are counted, succeeded with a new worker', () => {
  assert.ok(failed && ok);
  const before = { ...failed, reloads: 1, failed: 0 };
  assert.equal(reloadOutcome(before, before), 'pending');
  assert.equal(reloadOutcome(before, failed), 'failed');
  assert.equal(reloadOutcome(failed, ok), 'succeeded');
  assert.equal(reloadOutcome(failed, { ...ok, workers: failed.workers }), 'pending');
  assert.equal(reloadOutcome(failed, { ...ok, masterPid: 1, reloads: 0 }), 'succeeded');
});

test("3.0's synchronous reload answer: Success=1 with the load log, Success=0 with HAProxy's own error lines", () => {
  const good = parseReloadAnswer(fixture('reload-3.0-ok.txt'));
  assert.equal(good?.success, true);
  assert.match(good?.log.join('\n') ?? '', /New worker \(\d+\) forked[\s\S]*Loading success\./);
  const bad = parseReloadAnswer(fixture('reload-3.0-failed.txt'));
  assert.ok(bad);
  assert.equal(bad.success, false);
  assert.equal(bad.log.length, 6);
  assert.deepEqual(
    failureLines(bad.log).map((l) => l.replace(/\(\d+\)/, '(pid)')),
    [
      "[ALERT]    (pid) : config : parsing [p1.cfg:20] : unknown keyword 'this-is-not-a-keyword' in 'peers' section",
      '[ALERT]    (pid) : config : Error(s) found in configuration file : p1.cfg',
      '[ALERT]    (pid) : config : Fatal errors found in configuration.',
    ],
  );
  assert.deepEqual(failureLines(['[NOTICE]   (1) : x', '[WARNING]  (1) : Loading failure!']), [
    '[WARNING]  (1) : Loading failure!',
  ]);
  // 2.6 answers nothing; a dropped connection neither.
  assert.equal(parseReloadAnswer(''), undefined);
  assert.equal(parseReloadAnswer('Unknown command'), undefined);
});

test('a master is known by its pid and start time: a reload keeps both, a restart in a container keeps only the pid', () => {
  assert.ok(ok);
  // The 2.6 capture: 3 reloads in 2 s, and the master's uptime still counts from its start.
  assert.deepEqual([ok.reloads, ok.uptimeSeconds], [3, 2]);
  assert.equal(parseShowProc(fixture('show-proc-3.0-ok.txt'))?.uptimeSeconds, 13);
  assert.equal(parseShowProc('1 master 0 [failed: 0] 1d02h03m04s 2.6.12')?.uptimeSeconds, ((24 + 2) * 60 + 3) * 60 + 4);
  const first = masterInstance({ ...ok, masterPid: 1, uptimeSeconds: 100 }, 1_000_000);
  assert.deepEqual(first, { pid: 1, startedAtMs: 900_000, reloads: 3 });
  // Read again 30.4 s later, reloaded meanwhile: uptime 130 (rounded down).
  assert.equal(
    sameMaster(first, masterInstance({ ...ok, masterPid: 1, reloads: 4, uptimeSeconds: 130 }, 1_030_400)),
    true,
  );
  // The container restarted: PID 1 again (the entrypoint execs HAProxy), 12 s old.
  assert.equal(
    sameMaster(first, masterInstance({ ...ok, masterPid: 1, reloads: 0, uptimeSeconds: 12 }, 1_030_400)),
    false,
  );
  assert.equal(sameMaster(first, { ...first, pid: 2 }), false);
  // Restarted within the uptime's slack: its reload counter started again from 0.
  assert.equal(sameMaster(first, { ...first, reloads: 0, startedAtMs: 901_000 }), false);
  assert.equal(sameMaster(first, { ...first, startedAtMs: undefined }), true);
});
