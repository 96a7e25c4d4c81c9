/**
 * The few Prometheus metric kinds the syncer exports, written in the text exposition format
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). The syncer runs in every HAProxy pod
 * with a 60 MB budget; prom-client alone adds about 20 MB of resident memory to a Node process
 * (measured here: 45 → 65 MB on import), more than all of the syncer's own state, so the sidecar keeps
 * to this small subset. The webhook, with no such budget, uses prom-client.
 */

type Labels = Readonly<Record<string, string>>;

interface Metric {
  render(): string;
}

function labelText(labels: Labels, extra?: readonly [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push([extra[0], extra[1]]);
  if (pairs.length === 0) return '';
  return `{${pairs.map(([k, v]) => `${k}="${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`).join(',')}}`;
}

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')}\n# TYPE ${name} ${type}\n`;
}

export class Registry {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  readonly #metrics: Metric[] = [];
  register(metric: Metric): void { this.#metrics.push(metric); }
  /** The exposition text; a promise, like prom-client's, so callers need not care which one serves. */
  metrics(): Promise<string> { return Promise.resolve(this.#metrics.map((m) => m.render()).join('')); }
}

/** A monotonically increasing count, optionally split by label values. */
export class Counter {
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  readonly o: { name: string; help: string; registry: Registry };
  constructor(o: { name: string; help: string; registry: Registry }) { this.o = o; o.registry.register(this); }
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const entry = this.#values.get(key) ?? { labels, value: 0 };
    entry.value += by;
    this.#values.set(key, entry);
  }
  render(): string {
    const rows = [...this.#values.values()].map((e) => `${this.o.name}${labelText(e.labels)} ${e.value}\n`);
    return header(this.o.name, this.o.help, 'counter') + rows.join('');
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
  #value = 0;
  readonly o: GaugeOptions;
  constructor(o: GaugeOptions) { this.o = o; o.registry.register(this); }
  set(value: number): void { this.#value = value; }
  render(): string {
    return `${header(this.o.name, this.o.help, this.o.type ?? 'gauge')}${this.o.name} ${this.o.collect?.() ?? this.#value}\n`;
  }
}

/**
 * At most one labelled series, of value 1: a fact whose details are labels (the HAProxy version, the
 * last reload failure in HAProxy's own words). `clear()` removes the series.
 */
export class InfoGauge {
  #labels: Labels | undefined;
  readonly o: { name: string; help: string; registry: Registry };
  constructor(o: { name: string; help: string; registry: Registry }) { this.o = o; o.registry.register(this); }
  set(labels: Labels): void { this.#labels = { ...labels }; }
  clear(): void { this.#labels = undefined; }
  render(): string {
    return header(this.o.name, this.o.help, 'gauge') + (this.#labels === undefined ? '' : `${this.o.name}${labelText(this.#labels)} 1\n`);
  }
}

/** Observations counted into cumulative buckets, with their sum and count. */
export class Histogram {
  readonly #counts: number[];
  #sum = 0;
  #count = 0;
  readonly o: { name: string; help: string; registry: Registry; buckets: readonly number[] };
  constructor(o: { name: string; help: string; registry: Registry; buckets: readonly number[] }) {
    this.o = o;
    this.#counts = o.buckets.map(() => 0);
    o.registry.register(this);
  }
  observe(seconds: number): void {
    this.o.buckets.forEach((le, i) => { if (seconds <= le) this.#counts[i] = (this.#counts[i] ?? 0) + 1; });
    this.#sum += seconds;
    this.#count += 1;
  }
  /** Starts a timer; calling the returned function observes the elapsed seconds. */
  startTimer(): () => number {
    const start = process.hrtime.bigint();
    return () => { const s = Number(process.hrtime.bigint() - start) / 1e9; this.observe(s); return s; };
  }
  render(): string {
    const rows = this.o.buckets.map((le, i) => `${this.o.name}_bucket${labelText({}, ['le', String(le)])} ${this.#counts[i] ?? 0}\n`);
    rows.push(`${this.o.name}_bucket{le="+Inf"} ${this.#count}\n`, `${this.o.name}_sum ${this.#sum}\n`, `${this.o.name}_count ${this.#count}\n`);
    return header(this.o.name, this.o.help, 'histogram') + rows.join('');
  }
}

/** The standard process metrics a dashboard expects: resident memory, CPU time, start time. */
export function registerProcessMetrics(registry: Registry, prefix: string): void {
  const started = Date.now() / 1000 - process.uptime();
  new Gauge({ name: `${prefix}process_resident_memory_bytes`, help: 'Resident memory size in bytes.', registry, collect: () => process.memoryUsage.rss() });
  new Gauge({ name: `${prefix}process_cpu_seconds_total`, help: 'Total user and system CPU time spent in seconds.', registry, type: 'counter',
    collect: () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; } });
  new Gauge({ name: `${prefix}process_start_time_seconds`, help: 'Start time of the process since unix epoch in seconds.', registry, collect: () => started });
  new Gauge({ name: `${prefix}nodejs_heap_used_bytes`, help: 'V8 heap in use, in bytes.', registry, collect: () => process.memoryUsage().heapUsed });
}
