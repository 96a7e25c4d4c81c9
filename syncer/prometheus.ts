/**
 * The few Prometheus metric kinds the syncer exports, written in the text exposition format
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). The syncer runs in every HAProxy pod
 * with a 60 MB budget; prom-client alone adds about 20 MB of resident memory to a Node process
 * (measured here: 45 → 65 MB on import), more than all of the syncer's own state, so the sidecar keeps
 * to this small subset. The webhook, with no such budget, uses prom-client.
 *
 * Each metric declares its label names, as prom-client's do: a series is keyed and written in that
 * order whatever the order of the object passed in, so `{a,b}` and `{b,a}` are one series.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Label values by label name; the type lets only the declared names through. */
export type Labels<L extends string> = Readonly<Record<L, string>>;

/** What a metric is, without its values: for documentation and the test that diffs it with the README. */
export interface MetricDescription {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly labelNames: readonly string[];
}

interface Metric {
  readonly description: MetricDescription;
  render(): string;
}

const escapeLabelValue = (v: string): string =>
  v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');

/** `{name="value",…}` in the order of `names`; a missing value is written empty (absent, to Prometheus). */
function labelText(
  names: readonly string[],
  values: Readonly<Record<string, string>>,
  extra?: readonly [string, string],
): string {
  const pairs = names.map((n): [string, string] => [n, values[n] ?? '']);
  if (extra) pairs.push([extra[0], extra[1]]);
  if (pairs.length === 0) return '';
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

function header(d: MetricDescription): string {
  return `# HELP ${d.name} ${d.help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')}\n# TYPE ${d.name} ${d.type}\n`;
}

export class Registry {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  readonly #metrics: Metric[] = [];
  readonly #beforeScrape: (() => void)[] = [];
  register(metric: Metric): void {
    if (this.#metrics.some((m) => m.description.name === metric.description.name)) {
      throw new Error(`metric ${metric.description.name} is already registered`);
    }
    this.#metrics.push(metric);
  }
  /** Runs `fn` once before each scrape renders (to read several gauges from one snapshot). */
  beforeScrape(fn: () => void): void {
    this.#beforeScrape.push(fn);
  }
  /** The exposition text; a promise, like prom-client's, so callers need not care which one serves. */
  metrics(): Promise<string> {
    for (const fn of this.#beforeScrape) fn();
    return Promise.resolve(this.#metrics.map((m) => m.render()).join(''));
  }
  /** Every registered metric's name, type, help and label names, in registration order. */
  describe(): readonly MetricDescription[] {
    return this.#metrics.map((m) => m.description);
  }
}

interface LabelledOptions<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly registry: Registry;
  readonly labelNames?: readonly L[];
}

/** A monotonically increasing count, optionally split by label values. */
export class Counter<L extends string = never> {
  readonly description: MetricDescription;
  readonly #labelNames: readonly L[];
  readonly #values = new Map<string, number>();
  constructor(o: LabelledOptions<L>) {
    this.#labelNames = o.labelNames ?? [];
    this.description = { name: o.name, help: o.help, type: 'counter', labelNames: this.#labelNames };
    o.registry.register(this);
  }
  /** Adds `by` (default 1); `by = 0` makes the series exist, so a first increase is seen as one. */
  inc(labels: Labels<L>, by = 1): void {
    const key = labelText(this.#labelNames, labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }
  render(): string {
    const rows = [...this.#values].map(([labels, value]) => `${this.description.name}${labels} ${value}\n`);
    return header(this.description) + rows.join('');
  }
}

interface GaugeOptions {
  readonly name: string;
  readonly help: string;
  readonly registry: Registry;
  readonly collect?: () => number;
  /** `counter` for a collected value that only grows (CPU seconds). */
  readonly type?: 'gauge' | 'counter';
}

/** A value that goes up and down; `collect` reads it at scrape time instead (process metrics). */
export class Gauge {
  readonly description: MetricDescription;
  readonly #collect: (() => number) | undefined;
  #value = 0;
  constructor(o: GaugeOptions) {
    this.description = { name: o.name, help: o.help, type: o.type ?? 'gauge', labelNames: [] };
    this.#collect = o.collect;
    o.registry.register(this);
  }
  set(value: number): void {
    this.#value = value;
  }
  render(): string {
    return `${header(this.description)}${this.description.name} ${this.#collect?.() ?? this.#value}\n`;
  }
}

/**
 * At most one labelled series, of value 1: a fact whose details are labels (the HAProxy version, the
 * last reload failure in HAProxy's own words). `clear()` removes the series.
 */
export class InfoGauge<L extends string> {
  readonly description: MetricDescription;
  readonly #labelNames: readonly L[];
  #labels: string | undefined;
  constructor(o: LabelledOptions<L> & { readonly labelNames: readonly L[] }) {
    this.#labelNames = o.labelNames;
    this.description = { name: o.name, help: o.help, type: 'gauge', labelNames: o.labelNames };
    o.registry.register(this);
  }
  set(labels: Labels<L>): void {
    this.#labels = labelText(this.#labelNames, labels);
  }
  clear(): void {
    this.#labels = undefined;
  }
  render(): string {
    return header(this.description) + (this.#labels === undefined ? '' : `${this.description.name}${this.#labels} 1\n`);
  }
}

/** Observations counted into cumulative buckets, with their sum and count. */
export class Histogram {
  readonly description: MetricDescription;
  readonly #buckets: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;
  constructor(o: { name: string; help: string; registry: Registry; buckets: readonly number[] }) {
    this.description = { name: o.name, help: o.help, type: 'histogram', labelNames: [] };
    this.#buckets = o.buckets;
    this.#counts = o.buckets.map(() => 0);
    o.registry.register(this);
  }
  observe(seconds: number): void {
    this.#buckets.forEach((le, i) => {
      if (seconds <= le) this.#counts[i] = (this.#counts[i] ?? 0) + 1;
    });
    this.#sum += seconds;
    this.#count += 1;
  }
  /** Starts a timer; calling the returned function observes the elapsed seconds. */
  startTimer(): () => number {
    const start = process.hrtime.bigint();
    return () => {
      const s = Number(process.hrtime.bigint() - start) / 1e9;
      this.observe(s);
      return s;
    };
  }
  render(): string {
    const name = this.description.name;
    const rows = this.#buckets.map(
      (le, i) => `${name}_bucket${labelText([], {}, ['le', String(le)])} ${this.#counts[i] ?? 0}\n`,
    );
    rows.push(
      `${name}_bucket{le="+Inf"} ${this.#count}\n`,
      `${name}_sum ${this.#sum}\n`,
      `${name}_count ${this.#count}\n`,
    );
    return header(this.description) + rows.join('');
  }
}

/**
 * How often the event-loop delay is sampled. Node's default (10 ms) wakes the process 100 times a
 * second: measured here, 7 ms of CPU per second in an idle process, in every HAProxy pod; 100 ms costs
 * 0.7 ms/s and still sees every stall that delays a sample (a CPU-throttled or blocked loop).
 */
export const EVENT_LOOP_RESOLUTION_MS = 100;

/**
 * The standard process metrics a dashboard expects, under the names prom-client gives them (so one
 * dashboard reads both roles): resident memory, CPU time, start time, V8 heap, and the event-loop
 * delay since the previous scrape (max and 99th percentile, as prom-client's `nodejs_eventloop_lag_*`).
 */
export function registerProcessMetrics(registry: Registry): void {
  const started = Date.now() / 1000 - process.uptime();
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registry,
    collect: () => process.memoryUsage.rss(),
  });
  new Gauge({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registry,
    type: 'counter',
    collect: () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    },
  });
  new Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since unix epoch in seconds.',
    registry,
    collect: () => started,
  });
  new Gauge({
    name: 'nodejs_heap_size_used_bytes',
    help: 'Process heap size used from Node.js in bytes.',
    registry,
    collect: () => process.memoryUsage().heapUsed,
  });
  // The histogram's timer is unref'd: it never keeps the process alive.
  const delay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  delay.enable();
  let snapshot = { max: 0, p99: 0 };
  registry.beforeScrape(() => {
    // No sample yet (a scrape right after start) reads as 0, not as the histogram's sentinel values.
    snapshot = delay.count === 0 ? { max: 0, p99: 0 } : { max: delay.max / 1e9, p99: delay.percentile(99) / 1e9 };
    delay.reset();
  });
  new Gauge({
    name: 'nodejs_eventloop_lag_max_seconds',
    help: 'The maximum recorded event loop delay since the previous scrape.',
    registry,
    collect: () => snapshot.max,
  });
  new Gauge({
    name: 'nodejs_eventloop_lag_p99_seconds',
    help: 'The 99th percentile of the recorded event loop delays since the previous scrape.',
    registry,
    collect: () => snapshot.p99,
  });
}
