/**
 * Container probes as the kubelet runs them: httpGet (on the pod IP unless `host` is set; 200–399 is a
 * success), tcpSocket (a connection is a success) and exec (exit code 0, inside the container), each with
 * its timeout, period and success/failure thresholds.
 * @see https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { IntOrString, V1ContainerPort, V1Probe } from '@kubernetes/client-node';

/** One probe attempt's outcome; `message` is kept for the container's status and the logs. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly message: string;
}

/** What a probe needs from its container. */
export interface ProbeTarget {
  readonly podIP: string;
  readonly ports: readonly V1ContainerPort[];
  /** Runs a command in the container; absent when the container is not running. */
  exec(command: readonly string[], timeoutMs: number): Promise<{ exitCode: number | null; output: string; timedOut: boolean }>;
}

/** Probe timings with the API's defaults, and at least one second each, as the API enforces. */
export function probeTimings(probe: V1Probe): { initialDelayMs: number; periodMs: number; timeoutMs: number; successThreshold: number; failureThreshold: number } {
  return {
    initialDelayMs: Math.max(0, probe.initialDelaySeconds ?? 0) * 1000,
    periodMs: Math.max(1, probe.periodSeconds ?? 10) * 1000,
    timeoutMs: Math.max(1, probe.timeoutSeconds ?? 1) * 1000,
    successThreshold: Math.max(1, probe.successThreshold ?? 1),
    failureThreshold: Math.max(1, probe.failureThreshold ?? 3),
  };
}

function resolvePort(port: IntOrString, ports: readonly V1ContainerPort[]): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return ports.find((p) => p.name === port)?.containerPort;
}

/** Runs one attempt of a probe. Never throws: every problem is a failed attempt with a message. */
export async function runProbe(probe: V1Probe, target: ProbeTarget): Promise<ProbeResult> {
  const { timeoutMs } = probeTimings(probe);
  if (probe.httpGet !== undefined) {
    const get = probe.httpGet;
    const port = resolvePort(get.port, target.ports);
    if (port === undefined) return { ok: false, message: `httpGet: unknown port ${String(get.port)}` };
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.34', accept: '*/*' };
    for (const h of get.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
    return httpProbe(get.scheme === 'HTTPS', get.host ?? target.podIP, port, get.path ?? '/', headers, timeoutMs);
  }
  if (probe.tcpSocket !== undefined) {
    const port = resolvePort(probe.tcpSocket.port, target.ports);
    if (port === undefined) return { ok: false, message: `tcpSocket: unknown port ${String(probe.tcpSocket.port)}` };
    return tcpProbe(probe.tcpSocket.host ?? target.podIP, port, timeoutMs);
  }
  if (probe.exec !== undefined) {
    const result = await target.exec(probe.exec.command ?? [], timeoutMs);
    if (result.timedOut) return { ok: false, message: `command timed out after ${timeoutMs} ms` };
    return { ok: result.exitCode === 0, message: result.exitCode === 0 ? '' : `exit code ${String(result.exitCode)}: ${result.output.trim()}` };
  }
  return { ok: false, message: 'probe has no supported handler (httpGet, tcpSocket, exec; grpc is not supported by the lab)' };
}

function httpProbe(tls: boolean, host: string, port: number, path: string, headers: Record<string, string>, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const request = tls ? httpsRequest : httpRequest;
    // Like the kubelet: no certificate verification for HTTPS probes.
    const req = request({ host, port, path, headers, method: 'GET', timeout: timeoutMs, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve({ ok: status >= 200 && status < 400, message: `HTTP probe to ${host}:${port}${path}: status ${status}` });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, message: `HTTP probe to ${host}:${port}${path} failed: ${err.message}` }));
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => { socket.destroy(); resolve({ ok: true, message: '' }); });
    socket.once('timeout', () => socket.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    socket.once('error', (err) => resolve({ ok: false, message: `TCP probe to ${host}:${port} failed: ${err.message}` }));
  });
}

/**
 * Runs a probe every period until stopped and reports each change of its verdict: `true` after
 * `successThreshold` consecutive successes, `false` after `failureThreshold` consecutive failures.
 * Attempts never overlap (the next is scheduled when the last one ends).
 */
export class ProbeLoop {
  readonly #probe: V1Probe;
  readonly #target: ProbeTarget;
  readonly #onVerdict: (ok: boolean, last: ProbeResult) => void;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #verdict: boolean | undefined;
  #successes = 0;
  #failures = 0;

  constructor(probe: V1Probe, target: ProbeTarget, onVerdict: (ok: boolean, last: ProbeResult) => void) {
    this.#probe = probe;
    this.#target = target;
    this.#onVerdict = onVerdict;
  }

  start(): void {
    this.#schedule(probeTimings(this.#probe).initialDelayMs);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => { void this.#attempt(); }, delayMs);
  }

  async #attempt(): Promise<void> {
    const timings = probeTimings(this.#probe);
    const result = await runProbe(this.#probe, this.#target);
    if (this.#stopped) return;
    if (result.ok) { this.#successes++; this.#failures = 0; } else { this.#failures++; this.#successes = 0; }
    if (this.#verdict !== true && this.#successes >= timings.successThreshold) this.#report(true, result);
    else if (this.#verdict !== false && this.#failures >= timings.failureThreshold) this.#report(false, result);
    this.#schedule(timings.periodMs);
  }

  #report(ok: boolean, result: ProbeResult): void {
    this.#verdict = ok;
    this.#onVerdict(ok, result);
  }
}
