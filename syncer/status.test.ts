// The /status document, from `show peers` and `show table` as the real binaries print them (fixtures
// captured from Debian's 2.6.12 and 3.0.11: section haproxy-peers with tables sessions and clients, a
// third table local-only outside the section; p1 local, p2 unreachable).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { OutcomeLog, buildStatus, parseTableList, sectionTables, type StatusInput } from './status.ts';
import { ERRORS } from '../common/errors.ts';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const NOW = new Date('2026-12-02T17:40:00.000Z');

const input = (version: string, over: Partial<StatusInput> = {}): StatusInput => ({
  pod: 'p1',
  service: 'default/haproxy',
  section: 'haproxy-peers',
  readiness: { ready: true, reason: 'ready' },
  expected: [
    { name: 'p2', host: '127.0.9.2', port: 13002 },
    { name: 'p1', host: '127.0.9.1', port: 13001 },
  ],
  showPeers: fixture(`status-show-peers-${version}.txt`),
  showTable: fixture(`status-show-table-${version}.txt`),
  outcomes: new OutcomeLog(() => NOW),
  now: NOW,
  ...over,
});

for (const version of ['2.6', '3.0']) {
  test(`${version}: entries are summed over the section's tables only; peers sorted; a link not up is not counted`, () => {
    assert.deepEqual(sectionTables(fixture(`status-show-peers-${version}.txt`), 'haproxy-peers'), [
      'clients',
      'sessions',
    ]);
    assert.deepEqual(
      [...parseTableList(fixture(`status-show-table-${version}.txt`))],
      [
        ['local-only', 2],
        ['clients', 1],
        ['sessions', 2],
      ],
    );
    const s = buildStatus(input(version));
    assert.deepEqual(s.tables, [
      { name: 'clients', entries: 1 },
      { name: 'sessions', entries: 2 },
    ]);
    assert.equal(s.tableEntries, 3);
    assert.deepEqual(s.declared, [
      { name: 'p1', address: '127.0.9.1:13001' },
      { name: 'p2', address: '127.0.9.2:13002' },
    ]);
    assert.deepEqual(s.declared, s.expected);
    assert.deepEqual(s.links, { established: 0, remote: 1 }); // p2 does not answer: CONN
    assert.equal(s.haproxyRunning, true);
  });
}

test("an established link counts; another section's tables do not", () => {
  const s = buildStatus(input('2.6', { showPeers: fixture('show-peers-2.6-taught.txt') }));
  assert.deepEqual(s.links, { established: 1, remote: 2 }); // p1 ESTA, p3 UNKN
  assert.deepEqual(s.tables, [{ name: 'sessions', entries: 2 }]);
  assert.deepEqual(buildStatus(input('2.6', { section: 'other' })).declared, null);
  assert.equal(sectionTables(fixture('status-show-peers-2.6.txt'), 'other').length, 0);
});

test('HAProxy not answering and no list yet: nulls, not zeros, so a reader cannot take them for an empty replica', () => {
  const s = buildStatus(
    input('2.6', {
      showPeers: undefined,
      showTable: undefined,
      expected: undefined,
      readiness: { ready: false, reason: 'waiting for HAProxy to start' },
    }),
  );
  assert.deepEqual(
    [s.haproxyRunning, s.declared, s.expected, s.links, s.tables, s.tableEntries],
    [false, null, null, null, null, null],
  );
  assert.deepEqual([s.ready, s.reason], [false, 'waiting for HAProxy to start']);
  assert.equal((JSON.parse(JSON.stringify(s)) as { declared: unknown }).declared, null);
});

test('the last reload and the last error, with their times: a failed reload is both', () => {
  let now = NOW;
  const log = new OutcomeLog(() => now);
  assert.deepEqual([log.lastReload, log.lastError], [null, null]);
  log.record({ kind: 'reloaded' });
  assert.deepEqual(log.lastReload, { at: '2026-12-02T17:40:00.000Z', result: 'succeeded' });
  now = new Date('2026-12-02T17:41:00.000Z');
  log.record({ kind: 'error', code: ERRORS.HPS_RELOAD_FAILED.code, message: 'rejected' });
  assert.deepEqual(log.lastReload, { at: '2026-12-02T17:41:00.000Z', result: 'failed' });
  assert.deepEqual(log.lastError, {
    at: '2026-12-02T17:41:00.000Z',
    code: ERRORS.HPS_RELOAD_FAILED.code,
    message: 'rejected',
  });
  log.record({ kind: 'error', code: ERRORS.HPS_KUBE_API.code, message: 'x'.repeat(5000) });
  assert.equal(log.lastReload?.result, 'failed');
  assert.equal(log.lastError?.message.length, 1000);
  log.record({ kind: 'untaught', reason: 'resync timed out without a teacher' });
  assert.equal(log.lastError?.code, ERRORS.HPS_UNTAUGHT.code);
  const s = buildStatus(input('2.6', { outcomes: log }));
  assert.equal(s.lastReload?.result, 'failed');
  assert.equal(s.lastError?.code, ERRORS.HPS_UNTAUGHT.code);
});
