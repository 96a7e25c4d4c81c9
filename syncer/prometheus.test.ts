import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, InfoGauge, Registry, registerProcessMetrics } from './prometheus.ts';

test('counters, gauges and histograms render in the text exposition format', async () => {
  const registry = new Registry();
  const c = new Counter({ name: 'x_total', help: 'Things.', labelNames: ['result'], registry });
  const g = new Gauge({ name: 'x_peers', help: 'Peers.', registry });
  const h = new Histogram({ name: 'x_seconds', help: 'Time.', registry, buckets: [0.1, 1] });
  c.inc({ result: 'ok' });
  c.inc({ result: 'ok' });
  c.inc({ result: 'say "hi"\n' });
  g.set(3);
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  const text = await registry.metrics();
  assert.match(
    text,
    /^# HELP x_total Things\.\n# TYPE x_total counter\nx_total\{result="ok"\} 2\nx_total\{result="say \\"hi\\"\\n"\} 1\n/m,
  );
  assert.match(text, /# TYPE x_peers gauge\nx_peers 3\n/);
  assert.match(
    text,
    /x_seconds_bucket\{le="0.1"\} 1\nx_seconds_bucket\{le="1"\} 2\nx_seconds_bucket\{le="\+Inf"\} 3\nx_seconds_sum 5.55\nx_seconds_count 3\n/,
  );
  assert.equal(registry.contentType, 'text/plain; version=0.0.4; charset=utf-8');
});

test('one series per label values, whatever order the labels are given in', async () => {
  const registry = new Registry();
  const c = new Counter({ name: 'x_total', help: 'Things.', labelNames: ['a', 'b'], registry });
  const info = new InfoGauge({ name: 'x_info', help: 'Facts.', labelNames: ['a', 'b'], registry });
  c.inc({ a: '1', b: '2' });
  c.inc({ b: '2', a: '1' });
  info.set({ b: 'y', a: 'x' });
  const samples = (await registry.metrics()).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  // Written in the declared order, as a scraper would store them: one series each.
  assert.deepEqual(samples, ['x_total{a="1",b="2"} 2', 'x_info{a="x",b="y"} 1']);
});

test('a counter started at 0 exists before its first increase', async () => {
  const registry = new Registry();
  const c = new Counter({ name: 'x_total', help: 'Things.', labelNames: ['result'], registry });
  c.inc({ result: 'failed' }, 0);
  assert.match(await registry.metrics(), /^x_total\{result="failed"\} 0$/m);
});

test('two metrics of one name are refused (a scraper would reject the whole page)', () => {
  const registry = new Registry();
  new Gauge({ name: 'x', help: 'One.', registry });
  assert.throws(() => new Gauge({ name: 'x', help: 'Two.', registry }), /already registered/);
});

test('describe() lists each metric with its type and declared label names', () => {
  const registry = new Registry();
  new Counter({ name: 'x_total', help: 'Things.', labelNames: ['result'], registry });
  new Histogram({ name: 'x_seconds', help: 'Time.', registry, buckets: [1] });
  assert.deepEqual(
    registry.describe().map((d) => [d.name, d.type, d.labelNames]),
    [
      ['x_total', 'counter', ['result']],
      ['x_seconds', 'histogram', []],
    ],
  );
});

test("process metrics are read at scrape time, under prom-client's standard names", async () => {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const text = await registry.metrics();
  const rss = Number(/^process_resident_memory_bytes (\d+)$/m.exec(text)?.[1]);
  assert.ok(rss > 1e6, `resident memory reported (${rss})`);
  assert.match(text, /# TYPE process_cpu_seconds_total counter/);
  assert.match(text, /^nodejs_heap_size_used_bytes \d+$/m);
});

test('the event-loop delay: a blocked loop shows in the next scrape, and only in that one', async () => {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const lag = (text: string, which: string): number =>
    Number(new RegExp(`^nodejs_eventloop_lag_${which}_seconds (\\S+)$`, 'm').exec(text)?.[1]);
  await registry.metrics();
  // Let the sampler tick, block the loop 500 ms (a sample falls due within it, at most 100 ms in, and
  // fires at its end: at least 400 ms late), then let it tick again.
  await new Promise((r) => setTimeout(r, 250));
  const until = performance.now() + 500;
  while (performance.now() < until) {
    /* busy: the loop cannot run the sampler */
  }
  await new Promise((r) => setTimeout(r, 250));
  const blocked = await registry.metrics();
  assert.ok(lag(blocked, 'max') >= 0.3, `max delay after a 500 ms block: ${lag(blocked, 'max')} s`);
  assert.ok(
    lag(blocked, 'p99') >= 0.3,
    `p99 delay after a 500 ms block (a handful of samples): ${lag(blocked, 'p99')} s`,
  );
  await new Promise((r) => setTimeout(r, 350));
  const calm = await registry.metrics();
  // The previous scrape reset the histogram: the block is not reported twice.
  assert.ok(lag(calm, 'max') < 0.3, `max delay of a calm interval: ${lag(calm, 'max')} s`);
});
