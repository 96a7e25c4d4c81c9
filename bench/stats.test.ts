import { test } from 'node:test';
import assert from 'node:assert/strict';
import { percentile, renderTable, summary } from './stats.ts';

test('nearest-rank percentiles', () => {
  assert.equal(percentile([5, 1, 3], 50), 3);
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([1, 2, 3, 4], 100), 4);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('table and summary', () => {
  const r = [{ name: 'scale 3→10', replicas: 10, fileMs: [200, 210], sectionMs: [250, 300], newMs: [1500], linksMs: 900, reloadsMax: 1, reloadsNewMax: 2, rssMbMax: 41.23, privateMbMax: 30, pssMbMax: 33, workingSetMbMax: 45.26 }];
  assert.match(renderTable(r), /scale 3→10\s+10\s+200 ms\s+210 ms\s+250 ms\s+300 ms\s+1500 ms\s+900 ms\s+1\/2\s+41\.2 MB\s+33\.0 MB\s+30\.0 MB\s+45\.3 MB/);
  assert.deepEqual(summary(r), { convergence_ms_p50: 250, convergence_ms_max: 300, file_ms_p50: 200, new_replica_ms_max: 1500, links_ms_max: 900, reloads_per_replica_max: 2, reloads_per_existing_replica_max: 1, syncer_rss_mb_max: 41.2, syncer_private_mb_max: 30, syncer_pss_mb_max: 33, syncer_working_set_mb_max: 45.3 });
});
