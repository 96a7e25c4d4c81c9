/**
 * "Give me the current key pair": the one interface the webhook's TLS server knows. Where the pair
 * comes from (files mounted from a cert-manager Secret, or generated and shared through one Secret)
 * hides behind it, as vault-k8s's helper/cert does.
 */

/** PEM-encoded serving key and certificate, and the CA bundle a client needs to trust them. */
export interface KeyPair {
  readonly keyPem: string;
  readonly certPem: string;
  /** One or more CA certificates (during a CA rotation: the new one and the old one). */
  readonly caPem: string;
  readonly notAfter: Date;
}

export interface KeyPairSource {
  /** The pair to serve now; undefined until the first one is loaded (so /readyz says 503). */
  current(): KeyPair | undefined;
  /** Called on the first load and on every rotation; returns a function that unsubscribes. */
  subscribe(listener: (pair: KeyPair) => void): () => void;
  /** Loads the first pair (rejects if it cannot), then keeps it fresh in the background. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The shared part of every source: holds the current pair and tells subscribers when it changes. */
export class KeyPairHolder {
  #current: KeyPair | undefined;
  readonly #listeners = new Set<(pair: KeyPair) => void>();

  current(): KeyPair | undefined {
    return this.#current;
  }

  subscribe(listener: (pair: KeyPair) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Replaces the pair; subscribers hear about it only if the certificate or key really changed. */
  protected set(pair: KeyPair): boolean {
    const old = this.#current;
    if (old !== undefined && old.certPem === pair.certPem && old.keyPem === pair.keyPem && old.caPem === pair.caPem)
      return false;
    this.#current = pair;
    for (const listener of this.#listeners) listener(pair);
    return true;
  }
}

/** A fixed pair (tests, or certificates the caller manages itself). */
export class StaticKeyPairSource extends KeyPairHolder implements KeyPairSource {
  readonly #pair: KeyPair | undefined;
  constructor(pair?: KeyPair) {
    super();
    this.#pair = pair;
  }
  async start(): Promise<void> {
    if (this.#pair !== undefined) this.set(this.#pair);
  }
  async stop(): Promise<void> {
    /* nothing runs in the background */
  }
  /** Swaps in a new pair, as a rotation would. */
  replace(pair: KeyPair): void {
    this.set(pair);
  }
}
