import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import { InflightRequests } from './inflight-requests.ts';

/** Only `on('close')` of a response is used: an emitter stands in for it. */
const response = (): EventEmitter & ServerResponse => new EventEmitter() as EventEmitter & ServerResponse;

test('drained resolves at once when no request is in flight', async () => {
  await new InflightRequests().drained();
});

test('drained resolves once the last response in flight has closed, not before', async () => {
  const inflight = new InflightRequests();
  const first = response();
  const second = response();
  inflight.started(first);
  inflight.started(second);
  let done = false;
  const drained = inflight.drained().then(() => {
    done = true;
  });
  first.emit('close');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(done, false, 'one response is still in flight');
  second.emit('close');
  await drained;
  assert.equal(done, true);
});
