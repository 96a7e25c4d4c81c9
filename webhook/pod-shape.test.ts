// The shape check on its own: every golden input and every injected golden output reads as a Pod; a
// wrong type is named by its path; fields the webhook neither reads nor copies are left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import YAML from 'yaml';
import { MAX_LISTED_PROBLEMS, podShapeProblems } from './pod-shape.ts';

const dir = new URL('./testdata/', import.meta.url);

test('every golden pod, before and after injection, has the shape of a Pod', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.pod.yaml') || f.endsWith('.injected.yaml'));
  assert.ok(files.length >= 20, `only ${files.length} golden pods`);
  for (const file of files) {
    assert.deepEqual(podShapeProblems(YAML.parse(readFileSync(new URL(file, dir), 'utf8'))), [], file);
  }
});

const minimal = (spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}): unknown => ({
  metadata: { name: 'p', ...metadata },
  spec: { containers: [{ name: 'haproxy' }], ...spec },
});

test('a wrong type is named by its path and by what it is', () => {
  assert.deepEqual(podShapeProblems(null), ['the pod must be an object, not null']);
  assert.deepEqual(podShapeProblems(minimal({ volumes: [{ name: 'a' }, null, 'b'] })), [
    'spec.volumes[1] must be an object, not null',
    'spec.volumes[2] must be an object, not the string "b"',
  ]);
  assert.deepEqual(
    podShapeProblems(minimal({ containers: [{ name: 'haproxy', securityContext: { runAsUser: 1.5 } }] })),
    ['spec.containers[0].securityContext.runAsUser must be an integer, not the number 1.5'],
  );
  assert.deepEqual(podShapeProblems(minimal({ initContainers: [{ name: 'i', lifecycle: { preStop: null } }] })), [
    'spec.initContainers[0].lifecycle.preStop must be an object, not null',
  ]);
  assert.deepEqual(podShapeProblems(minimal({}, { labels: { ['k'.repeat(100)]: 1 } })), [
    `metadata.labels["${'k'.repeat(64)}…"] must be a string, not the number 1`,
  ]);
});

test('fields the webhook neither reads nor copies are left to the apiserver', () => {
  assert.deepEqual(
    podShapeProblems(
      minimal({ affinity: null, tolerations: [null], nodeSelector: { a: 1 } }, { ownerReferences: 'x' }),
    ),
    [],
  );
  assert.deepEqual(
    podShapeProblems(minimal({ containers: [{ name: 'haproxy', resources: null, readinessProbe: [] }] })),
    [],
  );
});

test(`at most ${MAX_LISTED_PROBLEMS} problems are listed, then a count of the rest`, () => {
  const problems = podShapeProblems(minimal({ volumes: new Array(100_000).fill(7) }));
  assert.equal(problems.length, MAX_LISTED_PROBLEMS + 1);
  // Counting stops at 1,000: a list of a million wrong entries costs no more than that.
  assert.equal(problems.at(-1), 'and at least 995 more');
  assert.equal(podShapeProblems(minimal({ volumes: new Array(10).fill(7) })).at(-1), 'and 5 more');
});
