import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildQuery, buildResponse, parseAnswers, parseQuery, RCODE_NXDOMAIN } from './dns-message.ts';

test('a query round-trips into an answer with A records', () => {
  const query = buildQuery(0x1234, 'Web-0.Web.Default.svc.cluster.local');
  const q = parseQuery(query);
  assert.equal(q?.name, 'web-0.web.default.svc.cluster.local');
  const answer = parseAnswers(buildResponse(query, q, ['127.0.0.11', '127.0.0.12'], 0));
  assert.deepEqual(answer, { rcode: 0, addresses: ['127.0.0.11', '127.0.0.12'] });
});

test('unknown names get NXDOMAIN, malformed queries are refused', () => {
  const query = buildQuery(7, 'nope.default.svc.cluster.local');
  assert.equal(parseAnswers(buildResponse(query, parseQuery(query)!, [], RCODE_NXDOMAIN)).rcode, RCODE_NXDOMAIN);
  assert.equal(parseQuery(Buffer.from([1, 2, 3])), undefined);
  assert.equal(parseQuery(Buffer.concat([query.subarray(0, 14)])), undefined);
});
