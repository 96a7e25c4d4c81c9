import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  acrossRuns,
  NEW_REPLICA_STAGES,
  newReplicaStageMs,
  percentile,
  renderCpuLines,
  renderNewReplicaTable,
  renderTable,
  summary,
  type ScenarioResult,
} from './stats.ts';

test('nearest-rank percentiles', () => {
  assert.equal(percentile([5, 1, 3], 50), 3);
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([1, 2, 3, 4], 100), 4);
  assert.ok(Number.isNaN(percentile([], 50)));
});

const scaleOut: ScenarioResult = {
  name: 'scale 3→10',
  replicas: 10,
  declaredAfterMs: 3400,
  fileMs: [200, 210],
  sectionMs: [250, 300],
  newMs: [1500],
  linksMs: 900,
  reloadsMax: 1,
  reloadsNewMax: 2,
  rssMbMax: 41.23,
  privateMbMax: 30,
  pssMbMax: 33,
  workingSetMbMax: 45.26,
};

test('table and summary', () => {
  assert.match(
    renderTable([scaleOut]),
    /scale 3→10\s+10\s+3400 ms\s+200 ms\s+210 ms\s+250 ms\s+300 ms\s+1500 ms\s+900 ms\s+1\/2\s+41\.2 MB\s+33\.0 MB\s+30\.0 MB\s+45\.3 MB/,
  );
  assert.deepEqual(summary([scaleOut]), {
    convergence_ms_p50: 250,
    convergence_ms_max: 300,
    file_ms_p50: 200,
    new_replica_ms_max: 1500,
    links_ms_max: 900,
    reloads_per_replica_max: 2,
    reloads_per_existing_replica_max: 1,
    syncer_rss_mb_max: 41.2,
    syncer_private_mb_max: 30,
    syncer_pss_mb_max: 33,
    syncer_working_set_mb_max: 45.3,
  });
});

test("the burst's reloads are reported on their own; new replicas' stages as p50 from first seen", () => {
  const burst: ScenarioResult = {
    ...scaleOut,
    name: 'burst 3→20',
    reloadsMax: 3,
    fresh: [
      {
        seen: 1000,
        scheduled: 1050,
        ip: 1900,
        initDone: 2500,
        syncerStarted: 2700,
        gateOpen: 2900,
        haproxyStarted: 3100,
        sectionComplete: 3150,
        ready: 3600,
      },
      {
        seen: 1000,
        scheduled: 1100,
        ip: 2100,
        initDone: 2900,
        syncerStarted: 3300,
        gateOpen: 3500,
        haproxyStarted: 3700,
        sectionComplete: 3800,
        ready: 4400,
      },
      { seen: 1010, scheduled: 1200 }, // never got further
    ],
  };
  const s = summary([{ ...scaleOut, reloadsMax: 5 }, burst], 'burst 3→20');
  assert.equal(s.reloads_per_existing_replica_max, 3);
  assert.equal(s.new_replica_scheduled_ms_p50, 100);
  assert.equal(s.new_replica_ip_ms_p50, 900);
  assert.equal(s.new_replica_gate_open_ms_p50, 1900);
  assert.equal(s.new_replica_ready_ms_p50, 2600);
  assert.match(renderNewReplicaTable(burst.fresh ?? [], NEW_REPLICA_STAGES), /ready\s+2600 ms\s+3400 ms\s+2/);
});

test('lone scenarios are summarised apart and leave the burst figures alone', () => {
  const lone: ScenarioResult = {
    ...scaleOut,
    name: 'lone 3→4',
    replicas: 4,
    sectionMs: [90, 120, 4000],
    newMs: [2000],
    fresh: [{ seen: 500, ready: 3700 }],
  };
  const s = summary([scaleOut, lone], undefined, ['lone 3→4']);
  assert.equal(s.convergence_ms_p50, 250, 'the burst figure without the lone scenario');
  assert.equal(s.convergence_ms_max, 300);
  assert.equal(s.lone_convergence_ms_p50, 120);
  assert.equal(s.lone_convergence_ms_max, 4000);
  assert.equal(s.lone_new_replica_ready_ms_p50, 3200);
  assert.equal(summary([scaleOut]).lone_convergence_ms_p50, undefined);
});

test('across runs: the median and the spread of every figure', () => {
  const out = acrossRuns([
    { rps: 900, p99: 4 },
    { rps: 1200, p99: 3 },
    { rps: 1000, p99: Number.NaN },
  ]);
  assert.deepEqual(out, { rps: 1000, rps_min: 900, rps_max: 1200, p99: 3, p99_min: 3, p99_max: 4 });
});

test("the burst's CPU goes into the JSON line by part, and every scenario's into a line of its own", () => {
  const burst: ScenarioResult = {
    ...scaleOut,
    name: 'burst 3→20',
    cpuSeconds: { new_pods: 12.5, 'kube-apiserver': 3.25, existing_pods: 1 },
  };
  const s = summary([{ ...scaleOut, cpuSeconds: { new_pods: 99 } }, burst], 'burst 3→20');
  assert.equal(s.burst_cpu_s_new_pods, 12.5);
  assert.equal(s.burst_cpu_s_kube_apiserver, 3.25);
  assert.equal(s.burst_cpu_s_existing_pods, 1);
  assert.equal(
    renderCpuLines([burst]),
    'CPU s during burst 3→20: new_pods 12.50, kube-apiserver 3.25, existing_pods 1.00',
  );
});

test('a breakdown takes any stages: the floor benchmark names its own', () => {
  const pods = [
    { seen: 100, ip: 900, ready: 4000 },
    { seen: 200, ready: 3200 },
  ];
  const stages = newReplicaStageMs(pods, [
    ['ip', 'ip'],
    ['ready', 'ready'],
  ]);
  assert.deepEqual(
    [...stages],
    [
      ['ip', [800]],
      ['ready', [3900, 3000]],
    ],
  );
});
