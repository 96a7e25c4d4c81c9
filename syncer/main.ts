/**
 * `haproxy-peer-sync syncer`: the sidecar. Wires the EndpointSlice watch, the reconciler, the backend
 * and the health server; owns process.env, signals and the exit code (exit 2 on a bad flag).
 */
import { redactOptions, renderHelp } from '../common/config.ts';
import { ConfigError, ERRORS } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import { createMetrics } from './metrics.ts';
import { buildHealthServer, listen } from './health.ts';
import { DirectBackend, type Backend } from './direct.ts';
import { Reconciler } from './reconciler.ts';
import { StartupGate } from './startup.ts';
import { probePeer } from './peer-probe.ts';
import { SYNCER_USAGE, loadSyncerConfig, syncerOptions, type SyncerConfig } from './options.ts';
import { watchEndpointSlices, type SliceWatch } from './watch.ts';
import { inClusterAccess, kubeconfigAccess, type KubeAccess } from './kube-client.ts';
import { EVENT_INTERVAL_MS, EventLimiter, eventPoster } from '../common/events.ts';
import { ENV, runtimePaths } from '../common/contract.ts';
import { socketCommand } from './haproxy-socket.ts';
import { OutcomeLog, buildStatus } from './status.ts';
import { podUid, SYNCER_EVENT_CONTROLLER, syncerEvent } from './events.ts';
import type { ReconcileOutcome } from './reconciler.ts';

/** Entry point of the `syncer` role (see bin/haproxy-peer-sync.ts). Resolves after SIGTERM/SIGINT. */
export async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(renderHelp(SYNCER_USAGE, syncerOptions));
    return;
  }
  let cfg: SyncerConfig;
  try {
    cfg = loadSyncerConfig(argv, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`haproxy-peer-sync syncer: ${err.problems.join('\n  ')}\n\n(see haproxy-peer-sync syncer --help)`);
    process.exitCode = 2;
    return;
  }
  // Listen at once: a SIGTERM during start-up must also end in a clean exit 0.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const log = createLogger('syncer', cfg.logLevel);
  log.info(
    { config: redactOptions(syncerOptions, { ...cfg, dataplaneapiUrl: cfg.dataplaneapiUrl.origin }) },
    'starting',
  );

  let access: KubeAccess;
  try {
    access = cfg.kubeconfig !== undefined ? await kubeconfigAccess(cfg.kubeconfig) : inClusterAccess(process.env);
  } catch (err) {
    log.fatal({ err }, 'no access to the Kubernetes API');
    process.exitCode = err instanceof ConfigError ? 2 : 1;
    return;
  }

  const metrics = createMetrics();
  let backend: Backend;
  if (cfg.mode === 'direct') {
    backend = new DirectBackend({ runtimeDir: cfg.runtimeDir, section: cfg.peersSection, localPeer: cfg.podName });
  } else {
    // Loaded only in this mode: undici is not needed by the direct backend. The password comes from the
    // file the init container wrote (a missing or empty file is a ConfigError), never from a value.
    const { DataplaneBackend } = await import('./dataplaneapi.ts');
    backend = await DataplaneBackend.fromCredentialsFile({
      baseUrl: cfg.dataplaneapiUrl,
      credentialsFile: cfg.credentialsFile ?? '',
      section: cfg.peersSection,
      runtimeDir: cfg.runtimeDir,
      log,
      localPeer: cfg.podName,
    });
  }

  let watch: SliceWatch | undefined;
  // What the reconciler reports goes to /status and, for what an operator must see, to an Event on this pod.
  const outcomes = new OutcomeLog(() => new Date());
  const postEvent = eventPoster({
    access: () => Promise.resolve(access),
    log,
    controller: SYNCER_EVENT_CONTROLLER,
    instance: cfg.podName,
    limiter: new EventLimiter({ intervalMs: EVENT_INTERVAL_MS, now: Date.now }),
  });
  const podNamespace = process.env[ENV.podNamespace] || cfg.namespace;
  const onOutcome = (outcome: ReconcileOutcome): void => {
    outcomes.record(outcome);
    const event = syncerEvent(outcome);
    if (event !== undefined)
      postEvent({
        ...event,
        subject: {
          apiVersion: 'v1',
          kind: 'Pod',
          namespace: podNamespace,
          name: cfg.podName,
          uid: podUid(watch?.slices(), cfg.podName),
        },
      });
  };
  const reconciler = new Reconciler({
    self: { name: cfg.podName, ip: cfg.podIp },
    port: cfg.peerPort,
    slices: () => watch?.slices(),
    backend,
    log,
    metrics,
    quietMs: cfg.coalesceWindowMs,
    maxMs: cfg.coalesceMaxMs,
    leadingEdge: cfg.coalesceLeading,
    onOutcome,
  });
  const masterCli = (command: string): Promise<string | undefined> =>
    socketCommand(runtimePaths(cfg.runtimeDir).masterSocket, command, 2000).catch(() => undefined);
  const status = async (): Promise<unknown> =>
    buildStatus({
      pod: cfg.podName,
      service: `${cfg.namespace}/${cfg.service}`,
      section: cfg.peersSection,
      readiness: reconciler.readiness(),
      expected: reconciler.desiredPeers(),
      showPeers: await masterCli('@1 show peers'),
      showTable: await masterCli('@1 show table'),
      outcomes,
      now: new Date(),
    });
  const gate = new StartupGate(
    {
      localName: cfg.podName,
      desired: () => reconciler.desiredPeers(),
      now: Date.now,
      maxWaitMs: cfg.startupGateMaxMs,
      probe: (p) => probePeer({ host: p.host, port: p.port, remoteName: p.name, localName: cfg.podName }),
      haproxyRunning: async () =>
        backend.showPeers().then(
          () => true,
          () => false,
        ),
    },
    (reason) => log.info({ reason }, 'start-up gate open: HAProxy may start'),
  );
  const server = buildHealthServer({
    registry: metrics.registry,
    readiness: () => reconciler.readiness(),
    startup: () => gate.status(),
    status,
  });
  try {
    const port = await listen(server, cfg.healthPort, cfg.healthAddress);
    log.info({ port, address: cfg.healthAddress }, 'health server listening');
  } catch (err) {
    log.fatal({ err }, 'cannot start the health server');
    process.exitCode = 1;
    return;
  }
  watch = watchEndpointSlices({
    access,
    namespace: cfg.namespace,
    service: cfg.service,
    log,
    onChange: () => reconciler.notify(),
    onError: () => metrics.errors.inc({ code: ERRORS.HPS_WATCH.code }),
  });
  reconciler.start();
  gate.start();

  const signal = await stopSignal;
  log.info({ signal }, 'stopping');
  gate.stop();
  await watch.stop();
  await reconciler.stop();
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  log.info('stopped');
  // Keep-alive sockets of the Kubernetes client may hold the event loop; everything is closed already.
  log.flush();
  process.exit(0);
}
