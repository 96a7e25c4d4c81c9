/**
 * Who spent the node's CPU during a scenario: the pods (by their cgroups, which count every container,
 * the exited init container too) and the node's own processes (by /proc, grouped by name, with the
 * children they reaped apart: see REAPED). Read inside the lab, where the
 * node's processes and cgroups are visible. cgroup v1 (`cpuacct.usage`) and v2 (`cpu.stat`).
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

const TICKS_PER_S = 100;

/** Seconds of CPU a cgroup (and everything below it, the removed too) has used since it was created. */
async function cgroupCpuSeconds(path: string): Promise<number> {
  const v1 = await readFile(`/sys/fs/cgroup/cpuacct${path}/cpuacct.usage`, 'utf8').catch(() => undefined);
  if (v1 !== undefined) return Number(v1) / 1e9;
  const v2 = await readFile(`/sys/fs/cgroup${path}/cpu.stat`, 'utf8').catch(() => '');
  return Number(/^usage_usec (\d+)$/m.exec(v2)?.[1] ?? Number.NaN) / 1e6;
}

/** The cgroup path (for CPU accounting) of a process; undefined when it is gone. */
async function cgroupOf(pid: number): Promise<string | undefined> {
  const lines = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => undefined);
  if (lines === undefined) return undefined;
  const list = lines.split('\n');
  const v1 = list.find((l) => /^\d+:([^:]*,)?cpuacct(,[^:]*)?:/.test(l));
  return (v1 ?? list.find((l) => l.startsWith('0::')))?.split(':')[2];
}

/** CPU seconds of the container a process runs in, and of its pod (the container's parent cgroup). */
export async function containerAndPodCpuSeconds(pid: number): Promise<{ container: number; pod: number } | undefined> {
  const path = await cgroupOf(pid);
  if (path === undefined) return undefined;
  return { container: await cgroupCpuSeconds(path), pod: await cgroupCpuSeconds(dirname(path)) };
}

/** The node's processes outside the pods, by name (/proc/<pid>/comm), in CPU seconds so far. */
export async function nodeProcessCpuSeconds(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    if (stat === undefined || ((await cgroupOf(Number(pid))) ?? '').includes('kubepods')) continue;
    // comm is in parentheses and may hold spaces; the fields after it are space-separated.
    const close = stat.lastIndexOf(')');
    const name = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    // utime + stime, then cutime + cstime: fields 14–17 of stat(5), 12–15 after the state field here.
    const own = (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / TICKS_PER_S;
    const reaped = (Number(fields[13] ?? 0) + Number(fields[14] ?? 0)) / TICKS_PER_S;
    out.set(name, (out.get(name) ?? 0) + own);
    out.set(REAPED, (out.get(REAPED) ?? 0) + reaped);
  }
  return out;
}

/**
 * The CPU of children a node process waited for (stat(5)'s cutime + cstime), apart: runc, which
 * containerd's shims run for every container, but also every container's own processes once they exit
 * (the shim reaps them, and its parent reaps the shim), so an exited init container and a deleted pod's
 * whole life land here too; the pods' cgroups count those already.
 */
export const REAPED = 'reaped';

/** The CPU each name spent between two readings (names that only appear later count from zero). */
export function cpuSpent(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, s] of after) {
    const spent = s - (before.get(name) ?? 0);
    if (spent > 0) out.set(name, spent);
  }
  return out;
}

/** The node's processes that matter in a burst, by name; every other one summed as `other`. */
const NODE_GROUPS = ['kube-apiserver', 'etcd', 'kubelet', 'containerd', 'containerd-shim'] as const;
/** Node.js names its main thread, and so the process, `MainThread`: outside the pods, that is this benchmark. */
const NODE_JS = 'MainThread';

/** CPU seconds by group (`bench`: Node.js processes outside the pods), rounded to 0.01 s. */
export function nodeCpuGroups(spent: ReadonlyMap<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, s] of spent) {
    const known = name === REAPED || (NODE_GROUPS as readonly string[]).includes(name);
    const group = name === NODE_JS ? 'bench' : known ? name : 'other';
    out[group] = (out[group] ?? 0) + s;
  }
  for (const k of Object.keys(out)) out[k] = Math.round((out[k] ?? 0) * 100) / 100;
  return out;
}
