// Golden tests in Istio's style: testdata/<case>.pod.yaml → exactly one of <case>.injected.yaml,
// <case>.denied.txt or <case>.skipped.txt. The patch is applied to the input and the resulting pod is
// compared (with the warnings as comments on top), then injected again to prove idempotency. UPDATE_GOLDEN=1 rewrites the expected files; a
// golden file that no input uses fails the suite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import YAML from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { decide, haproxyCommand, shouldInject } from './inject.ts';
import type { InjectorConfig } from './settings.ts';
import { applyPatch, buildPatch, escapePointerSegment } from './patch.ts';
import { ANNOTATIONS } from './annotations.ts';
import { TEST_CONFIG } from '../test/support/webhook.ts';

const GOLDEN_CONFIG: InjectorConfig = TEST_CONFIG;

const dir = new URL('./testdata/', import.meta.url);
const update = process.env['UPDATE_GOLDEN'] === '1';
const files = readdirSync(dir)
  .filter((f) => !f.startsWith('.'))
  .sort();
const inputs = files.filter((f) => f.endsWith('.pod.yaml')).map((f) => f.slice(0, -'.pod.yaml'.length));
const OUTCOMES = ['.injected.yaml', '.denied.txt', '.skipped.txt'];

function load(name: string): V1Pod {
  return YAML.parse(readFileSync(new URL(`${name}.pod.yaml`, dir), 'utf8')) as V1Pod;
}

function checkGolden(file: string, actual: string): void {
  const url = new URL(file, dir);
  if (update) {
    writeFileSync(url, actual);
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(url, 'utf8');
  } catch {
    assert.fail(`missing golden file webhook/testdata/${file}; run with UPDATE_GOLDEN=1 and review it`);
  }
  assert.equal(
    actual,
    expected,
    `webhook/testdata/${file} differs; run with UPDATE_GOLDEN=1 if the change is intended`,
  );
}

for (const name of inputs) {
  test(`golden: ${name}`, () => {
    const pod = load(name);
    const decision = decide(pod, GOLDEN_CONFIG);
    if (decision.kind === 'skip') {
      checkGolden(`${name}.skipped.txt`, `${decision.reason}\n`);
      return;
    }
    if (decision.kind === 'deny') {
      assert.match(decision.message, /haproxy-peer-sync\.io\//, 'a denial names the annotation to fix');
      checkGolden(`${name}.denied.txt`, `${decision.message}\n`);
      return;
    }
    const patch = buildPatch(pod, decision.pod);
    const paths = patch.map((op) => op.path);
    assert.equal(new Set(paths).size, paths.length, 'no two operations touch the same path');
    for (const op of patch)
      assert.ok(op.op === 'add' || op.op === 'replace', `only add/replace, got ${op.op} ${op.path}`);
    const patched = applyPatch(pod, patch);
    assert.deepEqual(patched, decision.pod);
    // The warnings the user sees (kubectl prints them) are part of the golden file, as a comment on top.
    const warnings = decision.warnings.map((w) => `# warning: ${w}\n`).join('');
    checkGolden(`${name}.injected.yaml`, warnings + YAML.stringify(patched));

    // Run twice: the injected pod is recognised and gets no patch at all.
    assert.deepEqual(decide(patched, GOLDEN_CONFIG), { kind: 'skip', reason: 'already-injected' });
    // ...even if something stripped the status annotation but left the syncer.
    const stripped = structuredClone(patched);
    delete stripped.metadata?.annotations?.[ANNOTATIONS.status];
    assert.deepEqual(shouldInject(stripped), { inject: false, reason: 'already-injected' });
  });
}

test('every golden file belongs to exactly one input', () => {
  for (const file of files) {
    if (file.endsWith('.pod.yaml')) continue;
    const outcome = OUTCOMES.find((o) => file.endsWith(o));
    assert.ok(outcome, `unexpected file webhook/testdata/${file}`);
    assert.ok(inputs.includes(file.slice(0, -outcome.length)), `unused golden file webhook/testdata/${file}`);
  }
  for (const name of inputs) {
    const goldens = OUTCOMES.filter((o) => files.includes(`${name}${o}`));
    assert.ok(
      update || goldens.length === 1,
      `webhook/testdata/${name}.pod.yaml has ${goldens.length} golden files (${goldens.join(', ')}); expected one`,
    );
  }
});

test('annotation keys with "/" are escaped per RFC 6901', () => {
  const pod = load('annotations-with-slashes');
  const decision = decide(pod, GOLDEN_CONFIG);
  assert.equal(decision.kind, 'inject');
  const patch = buildPatch(pod, decision.pod);
  assert.ok(patch.some((op) => op.path === '/metadata/annotations/haproxy-peer-sync.io~1status'));
  assert.ok(!patch.some((op) => op.path.includes('owner')), 'untouched annotations are not in the patch');
});

test('"~" is escaped before "/" (RFC 6901), e.g. in keys the apiserver would refuse but a patch must still address', () => {
  const before = { metadata: { annotations: { 'a/b~c': '1' } } };
  const after = { metadata: { annotations: { 'a/b~c': '2', 'x~/y': '3' } } };
  const patch = buildPatch(before, after);
  assert.deepEqual(patch.map((op) => op.path).sort(), [
    '/metadata/annotations/a~1b~0c',
    '/metadata/annotations/x~0~1y',
  ]);
  assert.equal(escapePointerSegment('x~/y'), 'x~0~1y');
  assert.deepEqual(applyPatch(before, patch), after);
});

test('a pod without initContainers, volumes or annotations gets one add per absent field', () => {
  const pod = load('minimal');
  const decision = decide(pod, GOLDEN_CONFIG);
  assert.equal(decision.kind, 'inject');
  const patch = buildPatch(pod, decision.pod);
  assert.deepEqual(patch.filter((op) => op.path === '/spec/initContainers').length, 1);
  assert.deepEqual(patch.filter((op) => op.path === '/spec/volumes').length, 1);
  assert.deepEqual(patch.filter((op) => op.path === '/metadata/annotations').length, 1);
});

test('the HAProxy command gets only the flags it lacks', () => {
  const cases: Array<[string[] | undefined, string[] | undefined, unknown]> = [
    [
      [
        'haproxy',
        '-W',
        '-db',
        '-S',
        '/var/run/haproxy-peer-sync/master.sock',
        '-f',
        '/c',
        '-f',
        '/var/run/haproxy-peer-sync/peers.cfg',
      ],
      undefined,
      { command: undefined, args: undefined, userConfigKept: true },
    ],
    [
      ['haproxy', '-Ws'],
      ['-f', '/c'],
      {
        command: undefined,
        args: [
          '-f',
          '/c',
          '-db',
          '-S',
          '/var/run/haproxy-peer-sync/master.sock,mode,660,gid,65532',
          '-f',
          '/var/run/haproxy-peer-sync/peers.cfg',
        ],
        userConfigKept: true,
      },
    ],
    [
      ['/usr/sbin/haproxy'],
      undefined,
      {
        command: [
          '/usr/sbin/haproxy',
          '-W',
          '-db',
          '-S',
          '/var/run/haproxy-peer-sync/master.sock,mode,660,gid,65532',
          '-f',
          '/default.cfg',
          '-f',
          '/var/run/haproxy-peer-sync/peers.cfg',
        ],
        args: undefined,
        userConfigKept: false,
      },
    ],
  ];
  for (const [command, args, expected] of cases) {
    assert.deepEqual(haproxyCommand({ name: 'h', command, args }, '/default.cfg'), expected);
  }
  const refused = haproxyCommand({ name: 'h', command: ['docker-entrypoint.sh'], args: ['-f', '/c'] }, '/c');
  assert.ok('problem' in refused && refused.problem.includes(ANNOTATIONS.container));
  assert.ok('problem' in haproxyCommand({ name: 'h', command: ['haproxy', '--', '/c'] }, '/c'));
});

test('injection does not modify its input', () => {
  const pod = load('existing-init-containers');
  const before = structuredClone(pod);
  decide(pod, GOLDEN_CONFIG);
  assert.deepEqual(pod, before);
});

test("root is never reused as the injected containers' uid", () => {
  const pod = load('minimal');
  pod.spec!.securityContext = { runAsUser: 0 };
  const decision = decide(pod, GOLDEN_CONFIG);
  assert.equal(decision.kind, 'inject');
  const init = decision.pod.spec?.initContainers?.[0];
  assert.equal(init?.securityContext?.runAsUser, 65532);
});

test('a peer port equal to the health port is denied, naming the annotation', () => {
  const pod = load('minimal');
  pod.metadata!.annotations = { [ANNOTATIONS.peerPort]: '8585' };
  const decision = decide(pod, GOLDEN_CONFIG);
  assert.equal(decision.kind, 'deny');
  assert.match(decision.kind === 'deny' ? decision.message : '', /haproxy-peer-sync\.io\/peer-port/);
});

test('unknown annotations under our prefix are warnings, not denials', () => {
  const pod = load('minimal');
  pod.metadata!.annotations = { 'haproxy-peer-sync.io/peer_port': '1' };
  const decision = decide(pod, GOLDEN_CONFIG);
  assert.equal(decision.kind, 'inject');
  assert.match(decision.kind === 'inject' ? decision.warnings.join() : '', /peer_port/);
});
