/**
 * `haproxy-peer-sync init`: the injected init container. Writes the first peers file, then exits. In
 * mode `dataplaneapi` it first generates a fresh Data Plane API password (Node's CSPRNG, 192 bits) and
 * writes it with what starts the API (init/render.ts); the password only ever exists in those 0600
 * files: never in the pod spec, an env var or a log. Mode `direct` writes no password: nothing would
 * read it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { redactOptions, renderHelp } from '../common/config.ts';
import { ConfigError } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import { INIT_USAGE, initOptions, loadInitConfig, type InitConfig } from './options.ts';
import { renderPeersFile } from '../syncer/peers.ts';
import { passwordFrom } from './render.ts';
import { writeDataplaneapiFiles } from './write.ts';
import { createIfAbsent } from '../common/files.ts';
import { runtimePaths } from '../common/contract.ts';

/** Entry point of the `init` role (see bin/haproxy-peer-sync.ts); exit 2 on a bad flag, 1 on an I/O failure. */
export async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(renderHelp(INIT_USAGE, initOptions));
    return;
  }
  let opts: InitConfig;
  try {
    opts = loadInitConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`haproxy-peer-sync init: ${err.problems.join('\n  ')}\n\n${renderHelp(INIT_USAGE, initOptions)}`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  const log = createLogger('init', opts.logLevel);
  log.info({ config: redactOptions(initOptions, { ...opts }) }, 'starting');
  try {
    await mkdir(opts.runtimeDir, { recursive: true });
    if (opts.mode === 'dataplaneapi') {
      const listen = {
        host: opts.dataplaneapiUrl.hostname.replace(/^\[|\]$/g, ''),
        port: Number(opts.dataplaneapiUrl.port || 80),
      };
      const paths = await writeDataplaneapiFiles(
        opts.runtimeDir,
        passwordFrom(randomBytes(24)),
        opts.dataplaneapiBinary,
        listen,
      );
      log.info(
        { dir: paths.dir, binary: opts.dataplaneapiBinary, port: listen.port },
        'wrote the Data Plane API credentials and configuration (0600)',
      );
    }
    const { peers: peersFile, adminSocket } = runtimePaths(opts.runtimeDir);
    // The local peer alone: all HAProxy needs to start; the syncer writes the whole set.
    const created = await createIfAbsent(
      peersFile,
      renderPeersFile({
        localPeer: opts.podName,
        adminSocket,
        section: opts.peersSection,
        peers: [{ name: opts.podName, host: opts.podIp, port: opts.peerPort }],
      }),
      0o644,
    );
    log.info(
      { path: peersFile, created },
      created ? 'wrote the first peers file' : 'peers file already there; left as it is',
    );
  } catch (err) {
    log.error({ err }, 'init failed');
    process.exitCode = 1;
  }
}
