import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from './logger.ts';
import {
  EventLimiter,
  cleanText,
  eventObject,
  eventPoster,
  isValidSubject,
  microTime,
  NOTE_MAX_BYTES,
  type EventReport,
} from './events.ts';

const POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  namespace: 'default',
  name: 'haproxy-7d9c-abcde',
  uid: '0b8a4c6e-1d2f-4a5b-9c8d-7e6f5a4b3c2d',
};
const report: EventReport = {
  subject: POD,
  reason: 'ReloadFailed',
  type: 'Warning',
  action: 'Reload',
  note: 'HAProxy rejected the configuration',
};

test("an events.k8s.io/v1 Event in the subject's namespace, regarding it, with the time in microseconds", () => {
  const at = new Date('2026-12-02T17:40:00.123Z');
  const e = eventObject(report, { controller: 'haproxy-peer-sync.io/syncer', instance: 'haproxy-7d9c-abcde' }, at);
  assert.equal(e.apiVersion, 'events.k8s.io/v1');
  assert.equal(e.eventTime, '2026-12-02T17:40:00.123000Z');
  assert.deepEqual(e.metadata, {
    name: `haproxy-7d9c-abcde.${(BigInt(at.getTime()) * 1_000_000n).toString(16)}`,
    namespace: 'default',
  });
  assert.deepEqual(e.regarding, POD);
  assert.deepEqual(
    [e.reason, e.type, e.action, e.note, e.reportingController],
    ['ReloadFailed', 'Warning', 'Reload', report.note, 'haproxy-peer-sync.io/syncer'],
  );
  // A subject named at the length limit still gives a valid Event name.
  const long = eventObject(
    { ...report, subject: { ...POD, name: `${'a'.repeat(250)}.b` } },
    { controller: 'c.io/x', instance: 'i' },
    at,
  );
  const name = (long.metadata as { name: string }).name;
  assert.ok(name.length <= 253 && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name), name);
  assert.equal(microTime(new Date('2026-01-01T00:00:00.000Z')), '2026-01-01T00:00:00.000000Z');
});

test('a note: control characters and bidi overrides out, whitespace folded, at most 1 kB of UTF-8 without a split character', () => {
  assert.equal(cleanText('line one\n\x1b[31mred\x1b[0m\ttab\u202eevil\u0085'), 'line one [31mred [0m tab evil');
  const clipped = cleanText('é'.repeat(2000));
  assert.ok(Buffer.byteLength(clipped) <= NOTE_MAX_BYTES, String(Buffer.byteLength(clipped)));
  assert.ok(clipped.endsWith('é…'));
  assert.equal(cleanText('short', 10), 'short');
  assert.equal(cleanText('abcdefghijkl', 10), 'abcdefg…');
  const e = eventObject(
    { ...report, note: `${'x'.repeat(5000)}\n` },
    { controller: 'c.io/x', instance: 'i\n'.repeat(200) },
    new Date(),
  );
  assert.ok(Buffer.byteLength(e.note as string) <= NOTE_MAX_BYTES);
  assert.ok((e.reportingInstance as string).length <= 128);
});

test('a subject is posted only when every field has the form the API gives it', () => {
  assert.equal(isValidSubject(POD), true);
  assert.equal(isValidSubject({ ...POD, uid: undefined }), true);
  assert.equal(
    isValidSubject({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: 'web', name: 'haproxy-7d9c' }),
    true,
  );
  for (const bad of [
    { name: 'Upper' },
    { name: 'a\nb' },
    { name: 'x'.repeat(254) },
    { namespace: 'a.b' },
    { kind: 'Pod\n' },
    { apiVersion: 'apps/v1 x' },
    { uid: 'u id' },
    { uid: 'u'.repeat(65) },
  ]) {
    assert.equal(isValidSubject({ ...POD, ...bad }), false, JSON.stringify(bad));
  }
});

test('one Event per key per interval; the oldest keys are forgotten beyond the bound', () => {
  let now = 0;
  const limiter = new EventLimiter({ intervalMs: 300_000, maxKeys: 2, now: () => now });
  assert.equal(limiter.allow('a'), true);
  assert.equal(limiter.allow('a'), false);
  assert.equal(limiter.allow('b'), true);
  now = 299_999;
  assert.equal(limiter.allow('a'), false);
  now = 300_000;
  assert.equal(limiter.allow('a'), true);
  // a (300 000) and b (0) are held; c pushes out b, the oldest: b is allowed again at once.
  assert.equal(limiter.allow('c'), true);
  assert.equal(limiter.allow('b'), true);
  assert.equal(limiter.allow('c'), false);
});

test('the poster never throws nor waits: a failure is one warning in the log; an invalid or repeated report is not sent', async () => {
  const lines: { msg: string; reason?: string }[] = [];
  const log = createLogger(
    'test',
    'debug',
    new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(JSON.parse(chunk.toString()) as { msg: string });
        cb();
      },
    }),
  );
  let asked = 0;
  const post = eventPoster({
    access: () => {
      asked++;
      return Promise.reject(new Error('no credentials'));
    },
    log,
    controller: 'haproxy-peer-sync.io/syncer',
    instance: 'p',
    limiter: new EventLimiter({ intervalMs: 60_000, now: () => 0 }),
  });
  assert.equal(post(report), true);
  assert.equal(post(report), false, 'rate-limited');
  assert.equal(post({ ...report, subject: { ...POD, name: 'Bad Name' } }), false, 'invalid subject');
  await new Promise((r) => setImmediate(r));
  assert.equal(asked, 1);
  assert.deepEqual(
    lines.filter((l) => l.msg === 'could not post a Kubernetes Event').map((l) => l.reason),
    ['ReloadFailed'],
  );
});
