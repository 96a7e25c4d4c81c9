// request.log is built on first use (webhook/server.ts lazyChildLogger): a request that never logs
// through it costs no pino child; one that does logs exactly as a child would, bindings included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import { lazyChildLogger } from './server.ts';

function recorder(): { parent: FastifyBaseLogger; lines: Record<string, unknown>[]; children: () => number } {
  const lines: Record<string, unknown>[] = [];
  const base = pino({ level: 'trace' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  let made = 0;
  const parent = Object.create(base) as FastifyBaseLogger;
  parent.child = (bindings, opts) => {
    made++;
    return base.child(bindings, opts);
  };
  return { parent, lines, children: () => made };
}

test('no child logger until a line is logged; then every level writes with the request bindings, through one child', () => {
  const { parent, lines, children } = recorder();
  const log = lazyChildLogger(parent, { reqId: 'req-1' }, {});
  assert.equal(children(), 0, 'nothing built for a request that does not log');
  log.fatal('f');
  log.error('e');
  log.warn('w');
  log.info('i');
  log.debug('d');
  log.trace('t');
  log.silent('s');
  assert.equal(children(), 1);
  assert.deepEqual(
    lines.map((l) => [l.msg, l.reqId, l.level]),
    [
      ['f', 'req-1', 60],
      ['e', 'req-1', 50],
      ['w', 'req-1', 40],
      ['i', 'req-1', 30],
      ['d', 'req-1', 20],
      ['t', 'req-1', 10],
    ],
  );
});

test('its level reads and sets the real child, and its own children carry both bindings', () => {
  const { parent, lines } = recorder();
  const log = lazyChildLogger(parent, { reqId: 'req-2' }, {});
  assert.equal(log.level, 'trace');
  log.level = 'warn';
  log.info('dropped');
  log.child({ step: 'patch' }).warn('kept');
  assert.deepEqual(
    lines.map((l) => [l.msg, l.reqId, l.step]),
    [['kept', 'req-2', 'patch']],
  );
});
