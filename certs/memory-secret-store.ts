/**
 * An in-memory SecretStore with the apiserver's optimistic-concurrency rules (409 on create of an
 * existing object, 409 on replace at a stale resourceVersion). Used by unit tests to race replicas.
 */
import type { SecretStore, StoredSecret } from './secret-source.ts';

export class MemorySecretStore implements SecretStore {
  #stored: StoredSecret | undefined;
  #version = 0;
  writes = 0;

  async read(): Promise<StoredSecret | undefined> { return this.#stored; }

  async create(data: Record<string, string>): Promise<StoredSecret | 'conflict'> {
    if (this.#stored !== undefined) return 'conflict';
    return this.#write(data);
  }

  async replace(data: Record<string, string>, resourceVersion: string): Promise<StoredSecret | 'conflict'> {
    if (this.#stored === undefined || this.#stored.resourceVersion !== resourceVersion) return 'conflict';
    return this.#write(data);
  }

  #write(data: Record<string, string>): StoredSecret {
    this.writes++;
    this.#stored = { data: { ...data }, resourceVersion: String(++this.#version) };
    return this.#stored;
  }
}
