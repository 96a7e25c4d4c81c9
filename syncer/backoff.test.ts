import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from './backoff.ts';

test('doubles from the base, caps at the maximum, jitters down to half', () => {
  const opts = { baseMs: 100, maxMs: 1000 };
  assert.equal(
    backoffDelay(0, opts, () => 1),
    100,
  );
  assert.equal(
    backoffDelay(3, opts, () => 1),
    800,
  );
  assert.equal(
    backoffDelay(10, opts, () => 1),
    1000,
  );
  assert.equal(
    backoffDelay(10, opts, () => 0),
    500,
  );
  assert.equal(
    backoffDelay(1000, opts, () => 1),
    1000,
  );
});
