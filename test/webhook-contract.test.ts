/**
 * The contract between what the webhook injects and what the injected programs read: for every golden
 * injected pod, the syncer's and the init container's environment (downward-API fields resolved as the
 * kubelet would) must load with the syncer's and init's own configuration loaders and mean what the
 * pod's annotations asked for. Lives in test/ because webhook/ and syncer/ never import each other.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { loadSyncerConfig } from '../syncer/options.ts';
import { loadInitConfig } from '../init/options.ts';
import { parsePeersFile } from '../syncer/peers.ts';
import { firstPeersScript } from '../webhook/first-peers.ts';

const dir = new URL('../webhook/testdata/', import.meta.url);
const goldens = readdirSync(dir).filter((f) => f.endsWith('.injected.yaml'));

/** The container's environment as the kubelet would give it. */
function envOf(container: V1Container | undefined): Record<string, string> {
  const fields: Record<string, string> = {
    'metadata.name': 'haproxy-abc12',
    'metadata.namespace': 'web',
    'status.podIP': '10.244.0.11',
  };
  const env: Record<string, string> = {};
  for (const e of container?.env ?? []) {
    const value = e.value ?? fields[e.valueFrom?.fieldRef?.fieldPath ?? ''];
    assert.ok(value !== undefined, `unresolvable env ${e.name}`);
    env[e.name] = value;
  }
  return env;
}

for (const file of goldens) {
  test(`the injected env of ${file} loads in the syncer and init`, () => {
    const pod = YAML.parse(readFileSync(new URL(file, dir), 'utf8')) as V1Pod;
    const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
    const syncer = all.find((c) => c.name === 'haproxy-peer-sync');
    const init = all.find((c) => c.name === 'haproxy-peer-sync-init');
    assert.deepEqual(syncer?.command, ['haproxy-peer-sync', 'syncer']);
    const annotations = pod.metadata?.annotations ?? {};
    // Direct mode: the first-peers shell script; the Data Plane API's credentials need our program.
    const direct = (annotations['haproxy-peer-sync.io/mode'] ?? 'direct') === 'direct';
    assert.deepEqual(init?.command, direct ? ['/bin/sh', '-c', firstPeersScript()] : ['haproxy-peer-sync', 'init']);

    const s = loadSyncerConfig([], envOf(syncer));
    assert.equal(s.podName, 'haproxy-abc12');
    assert.equal(s.namespace, 'web');
    assert.equal(s.podIp, '10.244.0.11');
    assert.equal(s.runtimeDir, '/var/run/haproxy-peer-sync');
    assert.equal(s.peersSection, annotations['haproxy-peer-sync.io/peers-section'] ?? 'haproxy-peers');
    assert.equal(s.peerPort, Number(annotations['haproxy-peer-sync.io/peer-port'] ?? 10000));
    assert.equal(s.mode, annotations['haproxy-peer-sync.io/mode'] ?? 'direct');
    assert.equal(s.healthPort, syncer?.ports?.[0]?.containerPort);
    if (s.mode === 'dataplaneapi') {
      assert.equal(s.dataplaneapiUrl.port, annotations['haproxy-peer-sync.io/dataplaneapi-port'] ?? '5555');
      assert.equal(s.credentialsFile, '/var/run/haproxy-peer-sync/credentials/password');
    }
    if (!direct) {
      const i = loadInitConfig([], envOf(init));
      assert.deepEqual(
        [i.podName, i.podIp, i.peersSection, i.peerPort, i.runtimeDir],
        [s.podName, s.podIp, s.peersSection, s.peerPort, s.runtimeDir],
      );
      return;
    }
    // The script, run by a real shell with the injected environment (its runtime directory a temporary
    // one), writes the local peer the syncer will call itself.
    const runtime = mkdtempSync(join(tmpdir(), 'hps-contract-'));
    try {
      const r = spawnSync(init?.command?.[0] ?? '', init?.command?.slice(1) ?? [], {
        env: { ...envOf(init), HPS_RUNTIME_DIR: runtime },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      const written = parsePeersFile(readFileSync(join(runtime, 'peers.cfg'), 'utf8'));
      assert.deepEqual(
        [written.localPeer, written.section, written.peers],
        [s.podName, s.peersSection, [{ name: s.podName, host: s.podIp, port: s.peerPort }]],
      );
    } finally {
      rmSync(runtime, { recursive: true, force: true });
    }
  });
}
