// `haproxy-peer-sync status`'s verdict and table, from documents as syncer/status.ts builds them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PeerRef, SyncerStatus } from '../syncer/status.ts';
import { ERRORS } from '../common/errors.ts';
import { age, readStatus, renderStatus, selectorString, verdict, type ReplicaRow } from './status-view.ts';

const NOW = new Date('2026-12-02T18:00:00.000Z');
const peers = (...names: string[]): PeerRef[] =>
  names.map((n, i) => ({ name: n, address: `10.244.0.${i + 10}:10000` }));
const ALL = peers('haproxy-a', 'haproxy-b', 'haproxy-c');

const doc = (pod: string, over: Partial<SyncerStatus> = {}): SyncerStatus => ({
  version: 1,
  pod,
  service: 'default/haproxy',
  section: 'haproxy-peers',
  time: NOW.toISOString(),
  ready: true,
  reason: 'ready',
  haproxyRunning: true,
  declared: ALL,
  expected: ALL,
  links: { established: 2, remote: 2 },
  tables: [{ name: 'sessions', entries: 100 }],
  tableEntries: 100,
  lastReload: { at: '2026-12-02T17:59:48.000Z', result: 'succeeded' },
  lastError: null,
  ...over,
});
const row = (pod: string, over: Partial<SyncerStatus> = {}): ReplicaRow => ({
  pod,
  terminating: false,
  status: doc(pod, over),
});
const converged = (): ReplicaRow[] => ['haproxy-a', 'haproxy-b', 'haproxy-c'].map((p) => row(p));

test('three ready replicas that declare the same peers, all links up, the same entries: agreement, and the table says so', () => {
  assert.deepEqual(verdict(converged()), { agree: true, problems: [] });
  assert.equal(
    renderStatus(converged(), NOW),
    [
      'service default/haproxy · peers haproxy-peers',
      'POD        READY  PEERS  LINKS  ENTRIES  LAST RELOAD         LAST ERROR',
      'haproxy-a  yes    3/3    2/2    100      12s ago, succeeded  -',
      'haproxy-b  yes    3/3    2/2    100      12s ago, succeeded  -',
      'haproxy-c  yes    3/3    2/2    100      12s ago, succeeded  -',
      '',
      '3 replicas: ready and in agreement',
      '',
    ].join('\n'),
  );
});

test('a newcomer not yet taught, declared by no one yet: no agreement, each reason named', () => {
  const four = peers('haproxy-a', 'haproxy-b', 'haproxy-c', 'haproxy-d');
  const rows = [
    ...converged(),
    row('haproxy-d', {
      ready: false,
      reason: 'resync in progress; no link to ready replicas: haproxy-a (UNKN: it does not declare this replica)',
      declared: four,
      expected: four,
      links: { established: 0, remote: 3 },
      tables: [{ name: 'sessions', entries: 0 }],
      tableEntries: 0,
      lastReload: null,
    }),
  ];
  const v = verdict(rows);
  assert.equal(v.agree, false);
  assert.deepEqual(v.problems, [
    'haproxy-d: not ready (resync in progress; no link to ready replicas: haproxy-a (UNKN: it does not declare this replica))',
    'haproxy-d: 0 of 3 links established',
    'default/haproxy · peers haproxy-peers: the replicas declare different peers (haproxy-a: haproxy-a,haproxy-b,haproxy-c; haproxy-b: haproxy-a,haproxy-b,haproxy-c; haproxy-c: haproxy-a,haproxy-b,haproxy-c; haproxy-d: haproxy-a,haproxy-b,haproxy-c,haproxy-d)',
    'default/haproxy · peers haproxy-peers: the replicas hold different entry counts (haproxy-a: 100, haproxy-b: 100, haproxy-c: 100, haproxy-d: 0)',
  ]);
  const table = renderStatus(rows, NOW);
  assert.match(table, /^haproxy-d {2}no {5}4\/4 {4}0\/3 {4}0 {8}- {19}-$/m);
  assert.match(table, /^not in agreement:$/m);
});

test('what else breaks agreement: a stale peer, a failed reload, no answer, terminating, no pod at all', () => {
  const stale = row('haproxy-a', {
    declared: peers('haproxy-a', 'haproxy-b', 'haproxy-old'),
    links: { established: 1, remote: 2 },
    lastReload: { at: '2026-12-02T17:57:00.000Z', result: 'failed' },
    lastError: {
      at: '2026-12-02T17:57:00.000Z',
      code: ERRORS.HPS_RELOAD_FAILED.code,
      message: 'HAProxy 2.6.12 rejected the configuration',
    },
  });
  const v = verdict([stale, row('haproxy-b'), row('haproxy-c')]);
  assert.ok(
    v.problems.includes(
      'haproxy-a: HAProxy declares haproxy-a,haproxy-b,haproxy-old, the EndpointSlices call for haproxy-a,haproxy-b,haproxy-c',
    ),
    v.problems.join('\n'),
  );
  assert.match(
    renderStatus([stale], NOW),
    new RegExp(
      `3m ago, failed {2}${ERRORS.HPS_RELOAD_FAILED.code} 3m ago: HAProxy 2\\.6\\.12 rejected the configuration$`,
      'm',
    ),
  );
  assert.deepEqual(
    verdict([...converged(), { pod: 'haproxy-d', terminating: false, problem: 'no answer within 5 s' }]).problems,
    ['haproxy-d: no answer within 5 s'],
  );
  assert.deepEqual(verdict([...converged().slice(1), { ...row('haproxy-a'), terminating: true }]).problems, [
    'haproxy-a: terminating',
  ]);
  assert.deepEqual(verdict([]), { agree: false, problems: ['no pod matches'] });
  assert.equal(
    verdict([row('a', { declared: null, links: null, tables: null, tableEntries: null, haproxyRunning: false })])
      .problems[0],
    'a: HAProxy does not answer',
  );
});

test('two workloads under one selector are judged apart, each under its own heading', () => {
  const other = peers('web-x', 'web-y');
  const rows = [
    ...converged(),
    ...['web-x', 'web-y'].map((p) =>
      row(p, {
        service: 'default/web',
        declared: other,
        expected: other,
        links: { established: 1, remote: 1 },
        tableEntries: 7,
      }),
    ),
  ];
  assert.deepEqual(verdict(rows), { agree: true, problems: [] });
  const text = renderStatus(rows, NOW);
  assert.ok(text.indexOf('service default/haproxy') < text.indexOf('service default/web'), text);
});

test('a document from a pod is checked field by field, and its strings cleaned before they reach a terminal', () => {
  const ok = readStatus(
    JSON.parse(
      JSON.stringify(
        doc('haproxy-a', {
          reason: 'bad\u001b[2Jreason',
          lastError: { at: NOW.toISOString(), code: 'X', message: 'line\nbreak' },
        }),
      ),
    ),
  );
  assert.ok(typeof ok !== 'string');
  assert.equal(ok.reason, 'bad [2Jreason');
  assert.equal(ok.lastError?.message, 'line break');
  assert.match(readStatus({ ...doc('a'), version: 2 }) as string, /version 2, not 1/);
  assert.equal(typeof readStatus({ ...doc('a'), links: { established: -1, remote: 2 } }), 'string');
  assert.equal(typeof readStatus({ ...doc('a'), declared: [{ name: 3 }] }), 'string');
  assert.equal(typeof readStatus('ok'), 'string');
});

test('ages and workload selectors as a user reads and writes them', () => {
  assert.deepEqual(
    [
      '2026-12-02T17:59:59Z',
      '2026-12-02T17:55:00Z',
      '2026-12-02T10:00:00Z',
      '2026-11-20T00:00:00Z',
      '2026-12-02T18:00:05Z',
    ].map((t) => age(t, NOW)),
    ['1s', '5m', '8h', '12d', '0s'],
  );
  assert.equal(
    selectorString({ matchLabels: { 'app.kubernetes.io/name': 'haproxy' } }),
    'app.kubernetes.io/name=haproxy',
  );
  assert.equal(
    selectorString({
      matchLabels: { a: 'b' },
      matchExpressions: [
        { key: 'c', operator: 'In', values: ['d', 'e'] },
        { key: 'f', operator: 'NotIn', values: ['g'] },
        { key: 'h', operator: 'Exists' },
        { key: 'i', operator: 'DoesNotExist' },
      ],
    }),
    'a=b,c in (d,e),f notin (g),h,!i',
  );
  assert.equal(selectorString({}), undefined);
  assert.equal(selectorString({ matchExpressions: [{ key: 'a', operator: 'Near' }] }), undefined);
});
