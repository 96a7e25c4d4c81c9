/**
 * What the init container writes, as text: pure, so the format is tested without a file system.
 * The first peers file is rendered by the syncer's own renderer (syncer/peers.ts), so the file has one
 * format whoever writes it.
 *
 * In mode `dataplaneapi` it also writes what runs the HAProxy Data Plane API from HAProxy itself, the
 * way HAProxy's documentation shows it: a `program` section in master-worker mode, so the master starts
 * the API, keeps it across reloads (`no option start-on-reload`: the API is what asks for reloads) and
 * stops it with HAProxy. https://docs.haproxy.org/3.0/configuration.html#3.7 (program),
 * https://docs.haproxy.org/3.0/configuration.html#3.4 (userlist),
 * https://github.com/haproxytech/dataplaneapi/blob/master/configuration/doc/README.md (its YAML file).
 */

/** The userlist the Data Plane API authenticates against, and its one user (the syncer logs in as it). */
export const DATAPLANEAPI_USERLIST = 'haproxy-dataplaneapi';
export const DATAPLANEAPI_USER = 'admin';

/** The Data Plane API's userlist. `insecure-password` means "stored in clear", which is what the API expects for a generated secret kept in a 0600 file. */
export function renderUserlist(password: string): string {
  return `userlist ${DATAPLANEAPI_USERLIST}\n    user ${DATAPLANEAPI_USER} insecure-password ${password}\n`;
}

/** A password from random bytes (the caller supplies them: at least 16, i.e. 128 bits), base64url so it needs no quoting. */
export function passwordFrom(bytes: Uint8Array): string {
  if (bytes.length < 16) throw new RangeError('a password needs at least 128 random bits');
  return Buffer.from(bytes).toString('base64url');
}

/** Where the files of the Data Plane API's part of the pod are (absolute paths, no spaces). */
export interface DataplaneapiFiles {
  /** The executable in the HAProxy image (annotation `haproxy-peer-sync.io/dataplaneapi-binary`). */
  readonly binary: string;
  /** Its YAML configuration, written by init. */
  readonly yaml: string;
  /** The HAProxy configuration file holding the userlist (read by HAProxy and by the API). */
  readonly userlist: string;
  /** The file the API manages: the peers file HAProxy loads after the user's configuration. */
  readonly peers: string;
  /** HAProxy's master CLI: the API reloads through it (HAProxy 2.7 and later) and finds the workers. */
  readonly masterSocket: string;
  /** A writable directory of its own: transactions, backups, maps, certificates, storage. */
  readonly workDir: string;
}

/**
 * The HAProxy configuration the webhook loads after the peers file (`-f`): the userlist, and the
 * `program` section that starts the Data Plane API with its YAML file. HAProxy starts it once with the
 * master and restarts it only if it exits, never on a reload.
 */
export function renderDataplaneapiHaproxyConfig(
  password: string,
  files: Pick<DataplaneapiFiles, 'binary' | 'yaml'>,
): string {
  return (
    '# Written by haproxy-peer-sync init (mode dataplaneapi). Do not edit.\n' +
    renderUserlist(password) +
    '\nprogram dataplaneapi\n' +
    `    command ${files.binary} -f ${files.yaml}\n` +
    '    no option start-on-reload\n'
  );
}

/** What the API listens on: inside the pod only (its network namespace), plain HTTP. */
export interface DataplaneapiListen {
  readonly host: string;
  readonly port: number;
}

/**
 * The Data Plane API's own configuration (`config_version: 2`, the keys v2.x and v3.x both read; each
 * ignores keys it does not know). It manages the peers file (`config_file`), reads its users from the
 * userlist file, and reloads HAProxy through the master socket when HAProxy is 2.7 or later; for 2.6 it
 * runs `reload_cmd`, SIGUSR2 to PID 1, which is HAProxy's master in the container (the injected
 * command, or the official image's entrypoint, `exec`s it). The API requires `restart_cmd` with the
 * custom reload strategy; a restart is a reload here too. `reload_delay: 1`: the syncer already
 * coalesces changes and commits with `force_reload=true`, so the API's own delay would only add latency
 * to other clients' changes. Every directory it writes is under `workDir` (the shared emptyDir): the
 * HAProxy container's root file system may be read-only. Logs go to stdout, which HAProxy's master
 * (`-db`) shares with the container's log.
 */
export function renderDataplaneapiYaml(listen: DataplaneapiListen, files: DataplaneapiFiles): string {
  const dir = dataplaneapiWorkDirs(files.workDir);
  const lines = [
    '# Written by haproxy-peer-sync init (mode dataplaneapi). Do not edit.',
    'config_version: 2',
    'name: haproxy-peer-sync',
    'dataplaneapi:',
    `  host: ${listen.host}`,
    `  port: ${listen.port}`,
    '  scheme:',
    '    - http',
    '  userlist:',
    `    userlist: ${DATAPLANEAPI_USERLIST}`,
    `    userlist_file: ${files.userlist}`,
    '  transaction:',
    `    transaction_dir: ${dir.transactions}`,
    `    backups_dir: ${dir.backups}`,
    '    backups_number: 0',
    '  resources:',
    `    maps_dir: ${dir.maps}`,
    `    ssl_certs_dir: ${dir.ssl}`,
    `    general_storage_dir: ${dir.general}`,
    `    dataplane_storage_dir: ${dir.dataplane}`,
    `    spoe_dir: ${dir.spoe}`,
    `    spoe_transaction_dir: ${dir.spoeTransactions}`,
    'haproxy:',
    `  config_file: ${files.peers}`,
    `  master_runtime: ${files.masterSocket}`,
    '  master_worker_mode: true',
    '  reload:',
    '    reload_strategy: custom',
    '    reload_cmd: kill -s USR2 1',
    '    restart_cmd: kill -s USR2 1',
    '    reload_delay: 1',
    'log_targets:',
    '  - log_to: stdout',
    '    log_level: info',
    '    log_types:',
    '      - app',
    '      - access',
  ];
  return `${lines.join('\n')}\n`;
}

/** The directories {@link renderDataplaneapiYaml} names, under `workDir`; init creates them. */
export function dataplaneapiWorkDirs(workDir: string) {
  const at = (name: string): string => `${workDir}/${name}`;
  return {
    transactions: at('transactions'),
    backups: at('backups'),
    maps: at('maps'),
    ssl: at('ssl'),
    general: at('general'),
    dataplane: at('dataplane'),
    spoe: at('spoe'),
    spoeTransactions: at('spoe-transactions'),
  } as const;
}
