import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry, registerProcessMetrics } from './prometheus.ts';

test('counters, gauges and histograms render in the text exposition format', async () => {
  const registry = new Registry();
  const c = new Counter({ name: 'x_total', help: 'Things.', registry });
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
  assert.match(text, /^# HELP x_total Things\.\n# TYPE x_total counter\nx_total\{result="ok"\} 2\nx_total\{result="say \\"hi\\"\\n"\} 1\n/m);
  assert.match(text, /# TYPE x_peers gauge\nx_peers 3\n/);
  assert.match(text, /x_seconds_bucket\{le="0.1"\} 1\nx_seconds_bucket\{le="1"\} 2\nx_seconds_bucket\{le="\+Inf"\} 3\nx_seconds_sum 5.55\nx_seconds_count 3\n/);
  assert.equal(registry.contentType, 'text/plain; version=0.0.4; charset=utf-8');
});

test('process metrics are read at scrape time', async () => {
  const registry = new Registry();
  registerProcessMetrics(registry, 'p_');
  const text = await registry.metrics();
  const rss = Number(/^p_process_resident_memory_bytes (\d+)$/m.exec(text)?.[1]);
  assert.ok(rss > 1e6, `resident memory reported (${rss})`);
  assert.match(text, /# TYPE p_process_cpu_seconds_total counter/);
});
