import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseShowProc, reloadOutcome } from './show-proc.ts';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const failed = parseShowProc(fixture('show-proc-2.6-failed.txt'));
const ok = parseShowProc(fixture('show-proc-2.6-ok.txt'));

test('parses the master line, current and old workers', () => {
  assert.deepEqual(failed, { masterPid: 18645, reloads: 2, failed: 1, workers: [18657], oldWorkers: [18648] });
  assert.deepEqual(ok?.oldWorkers, [18657, 18648]);
  assert.equal(parseShowProc('Unknown command'), undefined);
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
