import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerAndPodCpuSeconds, cpuSpent, nodeCpuGroups, nodeProcessCpuSeconds, REAPED } from './cpu-accounting.ts';

test("this process's CPU shows in /proc under its name and in its own cgroup's count", async () => {
  const before = await nodeProcessCpuSeconds();
  const ownBefore = await containerAndPodCpuSeconds(process.pid);
  const start = process.cpuUsage();
  // 0.3 s of CPU, however long that takes on a busy machine.
  while (process.cpuUsage(start).user + process.cpuUsage(start).system < 300_000);
  const spent = cpuSpent(before, await nodeProcessCpuSeconds());
  // Node.js names its main thread, and so the process, MainThread.
  assert.ok((spent.get('MainThread') ?? 0) >= 0.2, `MainThread spent ${spent.get('MainThread')} s`);
  const ownAfter = await containerAndPodCpuSeconds(process.pid);
  assert.ok(ownBefore !== undefined && ownAfter !== undefined);
  assert.ok(ownAfter.container - ownBefore.container >= 0.2, `cgroup: ${ownAfter.container - ownBefore.container} s`);
  assert.ok(ownAfter.pod >= ownAfter.container, 'the parent cgroup counts at least what its child does');
});

test('a name seen only later counts from zero; one that spent nothing or vanished is left out', () => {
  const spent = cpuSpent(
    new Map([
      ['etcd', 10],
      ['kubelet', 5],
      ['gone', 3],
    ]),
    new Map([
      ['etcd', 12.5],
      ['kubelet', 5],
      ['runc', 0.5],
    ]),
  );
  assert.deepEqual(
    [...spent],
    [
      ['etcd', 2.5],
      ['runc', 0.5],
    ],
  );
});

test("the node's processes are grouped: the known ones by name, Node.js as the bench, the rest as other", () => {
  assert.deepEqual(
    nodeCpuGroups(
      new Map([
        ['kube-apiserver', 3.214],
        ['runc', 0.5],
        ['kube-proxy', 0.25],
        ['etcd', 1],
        ['MainThread', 2],
        [REAPED, 4],
      ]),
    ),
    { 'kube-apiserver': 3.21, other: 0.75, etcd: 1, bench: 2, reaped: 4 },
  );
});
