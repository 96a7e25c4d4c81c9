import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entriesFromResponse, planRequests, withTransaction } from './dataplaneapi-plan.ts';

const desired = [
  { name: 'web-a', host: '10.0.0.1', port: 10000 },
  { name: 'web-b', host: '10.0.0.22', port: 10000 },
  { name: 'web-d', host: 'fd00::4', port: 10000 },
];

test('one request per difference: add, replace, delete; never the local peer', () => {
  const plan = planRequests({
    section: 'haproxy-peers',
    sectionExists: true,
    localPeer: 'web-a',
    desired,
    current: [
      { name: 'web-b', address: '10.0.0.2', port: 10000 },
      { name: 'web-c', address: '10.0.0.3', port: 10000 },
    ],
  });
  assert.deepEqual(plan, [
    {
      method: 'POST',
      path: '/peer_entries?peer_section=haproxy-peers',
      body: { name: 'web-a', address: '10.0.0.1', port: 10000 },
    },
    {
      method: 'POST',
      path: '/peer_entries?peer_section=haproxy-peers',
      body: { name: 'web-d', address: 'fd00::4', port: 10000 },
    },
    {
      method: 'PUT',
      path: '/peer_entries/web-b?peer_section=haproxy-peers',
      body: { name: 'web-b', address: '10.0.0.22', port: 10000 },
    },
    { method: 'DELETE', path: '/peer_entries/web-c?peer_section=haproxy-peers' },
  ]);
});

test('nothing to do gives no request; a missing section is created first', () => {
  const current = desired.map((p) => ({ name: p.name, address: p.host, port: p.port }));
  assert.deepEqual(planRequests({ section: 's', sectionExists: true, localPeer: 'web-a', desired, current }), []);
  const plan = planRequests({ section: 's', sectionExists: false, localPeer: 'web-a', desired, current: [] });
  assert.deepEqual(plan[0], { method: 'POST', path: '/peer_section', body: { name: 's' } });
  assert.equal(plan.length, 4);
});

test('reads v2 ({_version, data}) and v3 (bare array) lists', () => {
  const e = [{ name: 'x', address: '1.2.3.4', port: 1 }];
  assert.deepEqual(entriesFromResponse({ _version: 3, data: e }), e);
  assert.deepEqual(entriesFromResponse(e), e);
  assert.throws(() => entriesFromResponse({ nope: 1 }), /not a list/);
});

test('transaction ids are appended to the query', () => {
  assert.equal(withTransaction('/peer_section', 't1'), '/peer_section?transaction_id=t1');
  assert.equal(withTransaction('/peer_entries?peer_section=s', 't1'), '/peer_entries?peer_section=s&transaction_id=t1');
});
