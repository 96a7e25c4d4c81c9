/**
 * `haproxy-peer-sync webhook`: wires the configuration, the key pair source, the caBundle sync, the
 * access check and the HTTPS server, and stops them in reverse order on SIGTERM (in-flight admissions
 * are answered first: fastify's close waits for them).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { renderHelp } from '../common/config.ts';
import { ConfigError } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import { poll } from '../common/poll.ts';
import { defaultAccess, type KubeAccess } from '../common/kube-client.ts';
import type { KeyPairSource } from '../certs/key-pair.ts';
import { FileKeyPairSource } from '../certs/file-source.ts';
import { SecretKeyPairSource } from '../certs/secret-source.ts';
import { CaBundleSync } from '../certs/ca-bundle.ts';
import { kubeSecretStore, kubeWebhookConfigClient } from '../certs/kube-clients.ts';
import { cachedAccessWarnings } from './access-warnings.ts';
import { kubeAccessReviewer } from './kube-access-reviewer.ts';
import { loadWebhookConfig, WEBHOOK_USAGE, webhookOptions, type WebhookConfig } from './options.ts';
import { build, listen } from './server.ts';
import { EVENT_INTERVAL_MS, EventLimiter, eventPoster } from '../common/events.ts';
import { reportDenials, WEBHOOK_EVENT_CONTROLLER } from './events.ts';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Entry point of the `webhook` role (see bin/haproxy-peer-sync.ts); exit 2 on a bad flag. */
export async function main(argv: string[]): Promise<void> {
  // Without V8's mid-tier compiler (Maglev) the webhook peaks 15-20 MB lower under sustained load (its
  // compilations' memory, kept by malloc), at the same CPU per admission once TurboFan has optimized
  // the hot path (`npm run bench:webhook --mode=files`, 60 s at 50 connections: 121 vs 136-140 MB peak,
  // 237-244 vs 239-247 µs). Not a NODE_OPTIONS flag, so set here, before any of the request path
  // has run hot enough to be compiled.
  setFlagsFromString('--no-maglev');
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(renderHelp(WEBHOOK_USAGE, webhookOptions));
    return;
  }
  const version = packageVersion();
  let config: WebhookConfig;
  try {
    config = loadWebhookConfig(argv, process.env, version);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(
        `haproxy-peer-sync webhook: ${err.problems.join('\n  ')}\n\n${renderHelp(WEBHOOK_USAGE, webhookOptions)}`,
      );
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  const log = createLogger('webhook', config.logLevel);
  // No option of the webhook is a secret (keys live in files or a Secret), so the whole config is logged.
  log.info({ version, config }, 'starting');

  // Read only when a Kubernetes call is configured, in the order of client-node's loadFromDefault():
  // KUBECONFIG, ~/.kube/config, then the in-cluster service account.
  let access: KubeAccess | undefined;
  const kube = async (): Promise<KubeAccess> => (access ??= await defaultAccess(process.env));
  const onError =
    (what: string) =>
    (err: Error): void => {
      log.warn({ err }, what);
    };
  const source: KeyPairSource =
    config.certs.kind === 'files'
      ? new FileKeyPairSource({
          certFile: config.certs.certFile,
          keyFile: config.certs.keyFile,
          caFile: config.certs.caFile,
          pollMs: config.certPollMs,
          onError: onError('could not reload the certificate files; still serving the previous pair'),
        })
      : new SecretKeyPairSource({
          store: kubeSecretStore(await kube(), config.certs.namespace, config.certs.name),
          hosts: config.certs.hosts,
          checkMs: config.certPollMs,
          onError: onError('could not refresh the certificate Secret; still serving the previous pair'),
        });

  const app = await build({
    logger: log,
    keyPairs: source,
    config: {
      image: config.image,
      version,
      sidecarMode: config.sidecarMode,
      imagePullPolicy: config.imagePullPolicy,
      resources: config.resources,
      healthPort: config.syncerHealthPort,
      drainSeconds: config.drainSeconds,
    },
    accessWarnings: config.accessCheck
      ? cachedAccessWarnings({
          reviewer: kubeAccessReviewer(await kube()),
          ttlMs: config.accessCacheTtlMs,
          timeoutMs: 2000,
          now: Date.now,
          onError: onError('SubjectAccessReview failed; no warning given'),
        })
      : undefined,
  });
  // A Warning Event on the owner of every pod it denies (webhook/events.ts); never delays an answer.
  reportDenials(
    eventPoster({
      access: kube,
      log,
      controller: WEBHOOK_EVENT_CONTROLLER,
      instance: hostname(),
      limiter: new EventLimiter({ intervalMs: EVENT_INTERVAL_MS, now: Date.now }),
    }),
  );
  const address = await listen(app, { host: config.listen, port: config.port });
  log.info({ address: address.address, port: address.port }, 'listening (ready once a certificate is loaded)');

  const sync =
    config.webhookConfigName === undefined
      ? undefined
      : new CaBundleSync({
          client: kubeWebhookConfigClient(await kube()),
          name: config.webhookConfigName,
          source,
          intervalMs: config.caBundleIntervalMs,
          onResult: (result) => {
            if (result !== 'unchanged')
              log.info({ result, webhookConfiguration: config.webhookConfigName }, 'caBundle sync');
          },
          onError: onError('caBundle sync failed; will retry'),
        });

  // The first key pair may need the apiserver (Secret source): keep trying, /readyz stays 503 meanwhile.
  const firstKeyPair = poll(
    async () => {
      await source.start();
      return 'done';
    },
    {
      intervalMs: 0,
      immediate: true,
      backoff: { baseMs: 500, maxMs: 30_000 },
      onError: (err, retryInMs) => {
        log.error({ err, retryInMs }, 'could not load a serving certificate');
      },
    },
  );

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    await firstKeyPair.stop(); // lets an attempt in flight finish, so the source stopped next stays stopped
    await sync?.stop();
    await source.stop();
    await app.close(); // answers the admissions in flight first
    log.info('stopped');
    // Kubernetes client keep-alive sockets would otherwise hold the event loop open.
    process.exit(0);
  };
  process.once('SIGTERM', () => {
    void stop('SIGTERM');
  });
  process.once('SIGINT', () => {
    void stop('SIGINT');
  });

  firstKeyPair.start();
  await firstKeyPair.ended;
  if (!stopping) await sync?.start();
}
