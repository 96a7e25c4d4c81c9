/**
 * The init container's file I/O. Credentials are written 0600 in a 0700 directory and replaced
 * atomically, so a reader never sees half a password; the peers file is created only if absent
 * (common/files.ts), so a restarted init container never rolls back what the syncer has written since.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { writeAtomic } from '../common/files.ts';
import { runtimePaths } from '../common/contract.ts';

/** Where the credentials live under the runtime directory (the pod contract's file names). */
export interface CredentialPaths { readonly dir: string; readonly password: string; readonly userlist: string }

/** `<runtime>/credentials/{password,dataplaneapi.cfg}`. */
export function credentialPaths(runtimeDir: string): CredentialPaths {
  const paths = runtimePaths(runtimeDir);
  return { dir: paths.credentialsDir, password: paths.password, userlist: paths.userlist };
}

/** Creates the credentials directory (0700) and writes both files (0600). */
export async function writeCredentials(runtimeDir: string, password: string, userlist: string): Promise<CredentialPaths> {
  const paths = credentialPaths(runtimeDir);
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  await chmod(paths.dir, 0o700);
  await writeAtomic(paths.password, password, 0o600);
  await writeAtomic(paths.userlist, userlist, 0o600);
  return paths;
}
