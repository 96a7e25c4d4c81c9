import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressPool } from './kubelet-addresses.ts';

test('addresses are handed out in order, one per owner, and never twice while held', () => {
  const pool = new AddressPool('10.244.0.10', 3);
  assert.equal(pool.allocate('a'), '10.244.0.10');
  assert.equal(pool.allocate('b'), '10.244.0.11');
  assert.equal(pool.allocate('a'), '10.244.0.10', 'same owner, same address');
  assert.equal(pool.allocate('c'), '10.244.0.12');
  assert.throws(() => pool.allocate('d'), /exhausted/);
  pool.release('b');
  assert.equal(pool.allocate('d'), '10.244.0.11');
  assert.equal(pool.size, 3);
});

test('a freed address is not reused before the rest of the pool', () => {
  const pool = new AddressPool('10.244.0.10', 4);
  pool.allocate('a');
  pool.release('a');
  assert.equal(pool.allocate('b'), '10.244.0.11');
  assert.equal(pool.allocate('c'), '10.244.0.12');
});

test('claim keeps an address a pod already had, and refuses one held by another or outside the pool', () => {
  const pool = new AddressPool('10.244.0.10', 10);
  assert.equal(pool.claim('a', '10.244.0.15'), true);
  assert.equal(pool.claim('a', '10.244.0.15'), true, 'idempotent');
  assert.equal(pool.claim('b', '10.244.0.15'), false);
  assert.equal(pool.claim('b', '10.244.0.9'), false);
  assert.equal(pool.claim('b', 'not-an-ip'), false);
  assert.equal(pool.addressOf('a'), '10.244.0.15');
  assert.notEqual(pool.allocate('b'), '10.244.0.15');
});

test('the default pool runs to x.x.x.254', () => {
  const pool = new AddressPool('10.244.0.250');
  for (const owner of ['a', 'b', 'c', 'd', 'e']) pool.allocate(owner);
  assert.equal(pool.addressOf('e'), '10.244.0.254');
  assert.throws(() => pool.allocate('f'), /exhausted/);
});
