/**
 * A user who builds and pushes our image to their own registry points deploy/ at it with one `images:`
 * entry in its kustomization (what `kustomize edit set image` writes). On the real node, with the image
 * known only under that new name, `kubectl apply -k` must give a webhook that runs it and injects it:
 * the example's pods run the syncer and init container from the overridden image, Ready and meshed.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startSandbox, REPO_ROOT, type Sandbox } from './harness/sandbox.ts';
import { SYNCER, SYNCER_INIT, haproxyPods, waitConverged } from './harness/e2e-example.ts';

const SHIPPED = 'ghcr.io/haproxy-peer-sync/haproxy-peer-sync';
const OWN = 'registry.example.com/team/haproxy-peer-sync';
const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let sandbox: Sandbox | undefined;
const sb = (): Sandbox => {
  if (sandbox === undefined) throw new Error('no sandbox');
  return sandbox;
};
const overlay = mkdtempSync(join(tmpdir(), 'hps-own-image-'));

before(async () => {
  sandbox = await startSandbox();
  // Only the new name: the shipped one is removed, so a pod that still named it could not start.
  await sb().node.ctr('images', 'tag', `${SHIPPED}:${version}`, `${OWN}:${version}`);
  await sb().node.ctr('images', 'rm', `${SHIPPED}:${version}`);
  cpSync(join(REPO_ROOT, 'deploy'), overlay, { recursive: true });
  const kustomization = join(overlay, 'kustomization.yaml');
  writeFileSync(
    kustomization,
    `${readFileSync(kustomization, 'utf8')}images:\n  - name: ${SHIPPED}\n    newName: ${OWN}\n`,
  );
});
after(async () => {
  await sandbox?.stop();
  rmSync(overlay, { recursive: true, force: true });
});

test('deploy/ with an images: override runs the webhook and injects the syncer from the overridden image', async () => {
  await sb().installWebhook(overlay);
  const webhookImages = (
    await sb().kubectl(
      'get',
      'pods',
      '-n',
      'haproxy-peer-sync-system',
      '-o',
      'jsonpath={.items[*].spec.containers[0].image}',
    )
  ).split(' ');
  assert.deepEqual([...new Set(webhookImages)], [`${OWN}:${version}`], 'the webhook runs the overridden image');
  await sb().applyExamples();
  await waitConverged(sb(), 3, 'the example with the overridden image');
  for (const pod of await haproxyPods(sb())) {
    const injected = [...(pod.spec?.initContainers ?? [])].filter((c) => c.name === SYNCER || c.name === SYNCER_INIT);
    assert.equal(injected.length, 2, `${pod.metadata?.name}: syncer and init container injected`);
    for (const c of injected) assert.equal(c.image, `${OWN}:${version}`, `${pod.metadata?.name}/${c.name}: image`);
  }
});
