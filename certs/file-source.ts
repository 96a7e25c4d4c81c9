/**
 * Key pair from files, e.g. a cert-manager Certificate's Secret mounted into the webhook pod
 * (`tls.crt`, `tls.key`, `ca.crt`). The kubelet updates a mounted Secret by swapping a symlink, which
 * file watchers miss, so the files are polled; a changed, consistent pair is swapped in live.
 * https://cert-manager.io/docs/concepts/ca-injector/ (cert-manager.io/inject-ca-from)
 */
import { readFile } from 'node:fs/promises';
import { KeyPairHolder, type KeyPairSource } from './key-pair.ts';
import { certificateInfo, pairIsConsistent } from './generate.ts';
import { AppError, ERRORS } from '../common/errors.ts';
import { poll, type Poll } from '../common/poll.ts';

/** Options of FileKeyPairSource. */
export interface FileSourceOptions {
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA bundle for the caBundle sync; defaults to the certificate file itself (self-signed). */
  readonly caFile?: string | undefined;
  readonly pollMs: number;
  /** Told about a pair that could not be loaded (kept serving the previous one); retried sooner, at most every `pollMs`. */
  readonly onError?: ((err: Error) => void) | undefined;
}

/** KeyPairSource reading PEM files, polled every `pollMs`; a broken rotation keeps the previous pair. */
export class FileKeyPairSource extends KeyPairHolder implements KeyPairSource {
  readonly #opts: FileSourceOptions;
  #poll: Poll | undefined;

  constructor(opts: FileSourceOptions) {
    super();
    this.#opts = opts;
  }

  /** Reads the files once; returns whether a new pair was swapped in. Throws if they are unusable. */
  async refresh(): Promise<boolean> {
    const [certPem, keyPem, caPem] = await Promise.all([
      readFile(this.#opts.certFile, 'utf8'),
      readFile(this.#opts.keyFile, 'utf8'),
      this.#opts.caFile === undefined ? Promise.resolve(undefined) : readFile(this.#opts.caFile, 'utf8'),
    ]);
    const ca = caPem ?? certPem;
    if (!pairIsConsistent({ certPem, keyPem, caPem: ca }, [])) {
      throw new AppError(
        ERRORS.HPS_CERT_FILES,
        `${this.#opts.certFile} and ${this.#opts.keyFile} do not form a key pair issued by ${this.#opts.caFile ?? 'itself'}`,
      );
    }
    return this.set({ certPem, keyPem, caPem: ca, notAfter: certificateInfo(certPem).notAfter });
  }

  async start(): Promise<void> {
    await this.refresh();
    // A half-written rotation is usually complete a moment later: retry from 1 s, never slower than the poll.
    this.#poll = poll(
      async () => {
        await this.refresh();
      },
      {
        intervalMs: this.#opts.pollMs,
        backoff: { baseMs: Math.min(1000, this.#opts.pollMs), maxMs: this.#opts.pollMs },
        onError: (err) => this.#opts.onError?.(err),
      },
    );
    this.#poll.start();
  }

  async stop(): Promise<void> {
    await this.#poll?.stop();
  }
}
