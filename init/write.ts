/**
 * The init container's file I/O. Credentials are written 0600 in a 0700 directory and replaced
 * atomically, so a reader never sees half a password; the peers file is created only if absent
 * (common/files.ts), so a restarted init container never rolls back what the syncer has written since.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { writeAtomic } from '../common/files.ts';
import { runtimePaths } from '../common/contract.ts';
import {
  dataplaneapiWorkDirs,
  renderDataplaneapiHaproxyConfig,
  renderDataplaneapiYaml,
  type DataplaneapiFiles,
  type DataplaneapiListen,
} from './render.ts';

/** Where the Data Plane API's files live under the runtime directory. */
export interface CredentialPaths {
  readonly dir: string;
  /** The password alone: what the syncer reads. */
  readonly password: string;
  /** The userlist and the program section, loaded by HAProxy (the pod contract's `userlist` file). */
  readonly userlist: string;
  /** The API's own configuration. */
  readonly yaml: string;
  /** The API's working directory (transactions, backups, storage). */
  readonly workDir: string;
}

/**
 * `<runtime>/credentials/{password,dataplaneapi.cfg,dataplaneapi.yml}` and `<runtime>/dataplaneapi/`.
 * The YAML file sits with the credentials: it names the userlist file and nothing outside the pod
 * should read it.
 */
export function credentialPaths(runtimeDir: string): CredentialPaths {
  const paths = runtimePaths(runtimeDir);
  return {
    dir: paths.credentialsDir,
    password: paths.password,
    userlist: paths.userlist,
    yaml: `${paths.credentialsDir}/dataplaneapi.yml`,
    workDir: `${runtimeDir.replace(/\/+$/, '')}/dataplaneapi`,
  };
}

/**
 * Mode `dataplaneapi`: creates the credentials directory (0700) and writes the password, the HAProxy
 * file with the userlist and the program section, and the API's YAML configuration (each 0600, replaced
 * atomically: a restarted init container writes a new password into all of them), and creates the
 * API's working directories (0700). HAProxy, the API it starts and the syncer read these files as the
 * uid that wrote them: the webhook runs our containers as HAProxy's uid.
 */
export async function writeDataplaneapiFiles(
  runtimeDir: string,
  password: string,
  binary: string,
  listen: DataplaneapiListen,
): Promise<CredentialPaths> {
  const paths = credentialPaths(runtimeDir);
  const run = runtimePaths(runtimeDir);
  const files: DataplaneapiFiles = {
    binary,
    yaml: paths.yaml,
    userlist: paths.userlist,
    peers: run.peers,
    masterSocket: run.masterSocket,
    workDir: paths.workDir,
  };
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  await chmod(paths.dir, 0o700);
  for (const dir of [paths.workDir, ...Object.values(dataplaneapiWorkDirs(paths.workDir))])
    await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(paths.password, password, 0o600);
  await writeAtomic(paths.yaml, renderDataplaneapiYaml(listen, files), 0o600);
  // Last: HAProxy loads this file, so once it exists everything it points at exists too.
  await writeAtomic(paths.userlist, renderDataplaneapiHaproxyConfig(password, files), 0o600);
  return paths;
}
