import { randomBytes } from 'node:crypto';
import { chmod, link, rename, unlink, writeFile } from 'node:fs/promises';

/**
 * Writes `content` to a new temporary file beside `path` with exactly `mode` (umask does not apply),
 * then lets `place` put it at `path`. The temporary file never outlives the call, whatever happens.
 */
async function viaTempFile<T>(
  path: string,
  content: string,
  mode: number,
  place: (tmp: string) => Promise<T>,
): Promise<T> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode, flag: 'wx' });
  try {
    await chmod(tmp, mode);
    return await place(tmp);
  } finally {
    await unlink(tmp).catch(() => undefined); // already renamed away, or linked: the name alone goes
  }
}

/**
 * Writes `content` to `path` with exactly `mode`, atomically: a reader (HAProxy loading peers.cfg, the
 * syncer reading credentials) sees the old file or the new one, never half of it.
 */
export async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  await viaTempFile(path, content, mode, (tmp) => rename(tmp, path));
}

/**
 * Creates `path` with `content` and exactly `mode` unless it exists; returns whether it was created.
 * link(2) fails if the target exists, so a file written meanwhile by someone else (the syncer, for the
 * peers file a restarted init container would otherwise roll back) is never replaced, and a reader
 * never sees a half-written file.
 */
export async function createIfAbsent(path: string, content: string, mode: number): Promise<boolean> {
  return viaTempFile(path, content, mode, async (tmp) => {
    try {
      await link(tmp, path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  });
}
