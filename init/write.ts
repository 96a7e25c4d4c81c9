/**
 * The init container's file I/O. Credentials are written 0600 in a 0700 directory and replaced
 * atomically (temp file + rename), so a reader never sees half a password; the peers file is created
 * only if absent (temp file + link, which fails if the target exists), so a restarted init container
 * never rolls back what the syncer has written since.
 */
import { chmod, link, mkdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeAtomic } from '../common/files.ts';

/** Where the credentials live under the runtime directory. */
export interface CredentialPaths { readonly dir: string; readonly password: string; readonly userlist: string }

/** `<runtime>/credentials/{password,dataplaneapi.cfg}`. */
export function credentialPaths(runtimeDir: string): CredentialPaths {
  const dir = join(runtimeDir, 'credentials');
  return { dir, password: join(dir, 'password'), userlist: join(dir, 'dataplaneapi.cfg') };
}

/** Creates `path` with `content` unless it exists; returns whether it was created. */
export async function createIfAbsent(path: string, content: string, mode: number): Promise<boolean> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode, flag: 'wx' });
  try {
    await chmod(tmp, mode);
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
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
