/**
 * Keeps `caBundle` of our MutatingWebhookConfiguration equal to the CA we serve under. Only that one
 * object, by name, is read and patched (RBAC can grant exactly `get`/`patch` on it). Something else
 * (a `kubectl apply` of the manifest with an empty caBundle, a GitOps controller) may overwrite it, so
 * the object is re-checked periodically and re-patched when it differs; every key pair change triggers
 * an immediate pass. With cert-manager, its CA injector does this job instead (disable ours).
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#configure-admission-webhooks-on-the-fly
 */
import type { KeyPairSource } from './key-pair.ts';
import { poll, type Poll } from '../common/poll.ts';

/** The part of a MutatingWebhookConfiguration we look at. */
export interface WebhookConfigView {
  readonly webhooks: ReadonlyArray<{ readonly name: string; readonly caBundle?: string | undefined }>;
}

export interface JsonPatchOp {
  readonly op: 'add' | 'replace' | 'test';
  readonly path: string;
  readonly value: unknown;
}

/** certs/kube-clients.ts implements this against the apiserver. */
export interface WebhookConfigClient {
  read(name: string): Promise<WebhookConfigView | undefined>;
  /** Applies a JSON patch; 'conflict' when a `test` operation failed (the object changed meanwhile). */
  patch(name: string, ops: readonly JsonPatchOp[]): Promise<'ok' | 'conflict'>;
}

/**
 * The JSON patch that sets every webhook's caBundle to `caPem` (base64), empty if none differs. Each
 * replace is guarded by a `test` of the webhook's name, so a reordered list is never patched blindly.
 */
export function caBundlePatch(config: WebhookConfigView, caPem: string): JsonPatchOp[] {
  const wanted = Buffer.from(caPem).toString('base64');
  const ops: JsonPatchOp[] = [];
  config.webhooks.forEach((webhook, i) => {
    if (webhook.caBundle === wanted) return;
    ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: webhook.name });
    ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: wanted });
  });
  return ops;
}

/** What one pass did. */
export type SyncResult = 'unchanged' | 'patched' | 'missing' | 'no-key-pair';

/** Options of CaBundleSync. */
export interface CaBundleSyncOptions {
  readonly client: WebhookConfigClient;
  /** metadata.name of the MutatingWebhookConfiguration. */
  readonly name: string;
  readonly source: KeyPairSource;
  /** How often to re-check for an overwritten caBundle; a failed pass is retried sooner (from 1 s). */
  readonly intervalMs: number;
  readonly onResult?: ((result: SyncResult) => void) | undefined;
  readonly onError?: ((err: Error) => void) | undefined;
}

/** Keeps one MutatingWebhookConfiguration's caBundle equal to the served CA (see the file comment). */
export class CaBundleSync {
  readonly #opts: CaBundleSyncOptions;
  #poll: Poll | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(opts: CaBundleSyncOptions) {
    this.#opts = opts;
  }

  /** One pass: read the object, patch the caBundles that differ, retry once the object moved. */
  async syncOnce(): Promise<SyncResult> {
    const pair = this.#opts.source.current();
    if (pair === undefined) return 'no-key-pair';
    for (let attempt = 0; attempt < 5; attempt++) {
      const config = await this.#opts.client.read(this.#opts.name);
      if (config === undefined) return 'missing';
      const ops = caBundlePatch(config, pair.caPem);
      if (ops.length === 0) return 'unchanged';
      if ((await this.#opts.client.patch(this.#opts.name, ops)) === 'ok') return 'patched';
    }
    return 'unchanged';
  }

  /**
   * Runs a pass now, on every key pair change, and every `intervalMs`; passes never overlap (a change
   * during a pass gets one more right after it). Resolves after the first pass, failed or not.
   */
  async start(): Promise<void> {
    if (this.#poll !== undefined) return;
    const first = Promise.withResolvers<void>();
    // While the caBundle is wrong the apiserver cannot call us: a failed pass is retried soon.
    this.#poll = poll(
      async () => {
        try {
          this.#opts.onResult?.(await this.syncOnce());
        } finally {
          first.resolve();
        }
      },
      {
        intervalMs: this.#opts.intervalMs,
        immediate: true,
        backoff: { baseMs: Math.min(1000, this.#opts.intervalMs), maxMs: this.#opts.intervalMs },
        onError: (err) => this.#opts.onError?.(err),
      },
    );
    this.#unsubscribe = this.#opts.source.subscribe(() => {
      this.#poll?.poke();
    });
    this.#poll.start();
    await Promise.race([first.promise, this.#poll.ended]);
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    await this.#poll?.stop();
  }
}
