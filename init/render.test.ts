import { test } from 'node:test';
import assert from 'node:assert/strict';
import { passwordFrom, renderUserlist } from './render.ts';

test('the userlist holds the password for user admin', () => {
  assert.equal(renderUserlist('s3cret'), 'userlist haproxy-dataplaneapi\n    user admin insecure-password s3cret\n');
});

test('passwords need at least 128 bits and are base64url', () => {
  assert.throws(() => passwordFrom(new Uint8Array(15)), RangeError);
  assert.match(passwordFrom(new Uint8Array(24).fill(255)), /^[A-Za-z0-9_-]{32}$/);
});
