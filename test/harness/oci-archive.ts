/**
 * Reads an OCI image archive (an OCI image layout in a tar, as `buildah push oci-archive:` and `skopeo
 * copy` write it) the way a registry client would: index.json → the image manifest → its config. Only
 * the small JSON files are extracted (`tar -xOf`), never the layers.
 * https://github.com/opencontainers/image-spec/blob/main/image-layout.md
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly annotations?: Record<string, string>;
}

/** What `skopeo inspect` / `docker image inspect` show of an image: its name, labels and run settings. */
export interface ArchivedImage {
  /** The name the archive gives the image (annotation org.opencontainers.image.ref.name). */
  readonly refName: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly entrypoint: readonly string[] | undefined;
  readonly user: string | undefined;
  readonly architecture: string;
  readonly os: string;
}

async function member(archive: string, path: string): Promise<unknown> {
  const { stdout } = await run('tar', ['-xOf', archive, path], { maxBuffer: 16 << 20 });
  return JSON.parse(stdout) as unknown;
}

function blobPath(digest: string): string {
  const m = /^(sha256|sha512):([0-9a-f]+)$/.exec(digest);
  if (m === null) throw new Error(`not a digest: ${digest}`);
  return `blobs/${m[1]}/${m[2]}`;
}

/** The one image of an archive (an archive holding several, or an image index, is refused). */
export async function readOciArchive(archive: string): Promise<ArchivedImage> {
  const index = (await member(archive, 'index.json')) as { manifests?: Descriptor[] };
  const manifests = index.manifests ?? [];
  if (manifests.length !== 1 || manifests[0] === undefined)
    throw new Error(`${archive}: ${manifests.length} manifests in index.json, expected 1`);
  const top = manifests[0];
  if (top.mediaType !== 'application/vnd.oci.image.manifest.v1+json')
    throw new Error(`${archive}: ${top.mediaType} is not an OCI image manifest`);
  const manifest = (await member(archive, blobPath(top.digest))) as { config: Descriptor };
  const config = (await member(archive, blobPath(manifest.config.digest))) as {
    architecture: string;
    os: string;
    config?: { Labels?: Record<string, string>; Entrypoint?: string[]; User?: string };
  };
  return {
    refName: top.annotations?.['org.opencontainers.image.ref.name'],
    labels: config.config?.Labels ?? {},
    entrypoint: config.config?.Entrypoint,
    user: config.config?.User,
    architecture: config.architecture,
    os: config.os,
  };
}
