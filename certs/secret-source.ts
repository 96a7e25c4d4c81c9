/**
 * Self-generated certificates shared by every webhook replica through one Secret.
 *
 * Each replica reads the Secret; if it is absent, or its serving certificate is due for renewal or does
 * not cover the wanted hosts, the replica generates a new one and writes it with optimistic
 * concurrency (create fails with 409 if another replica created it first; replace carries the
 * resourceVersion it read). The loser of a race re-reads and adopts the winner's pair, so 2+ replicas
 * always serve one chain and never fight over the caBundle. The CA outlives many serving certificates;
 * when it is itself renewed the old CA stays in `ca.crt` until it expires, so the apiserver trusts
 * both chains during the switch.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
 */
import { KeyPairHolder, type KeyPair, type KeyPairSource } from './key-pair.ts';
import { certificateInfo, generateCa, generateServingCert, pairIsConsistent, splitPemBundle } from './generate.ts';
import { AppError, ERRORS, errorMessage } from '../common/errors.ts';
import { poll, type Poll } from '../common/poll.ts';

/** The Secret's data (decoded) and the resourceVersion it was read at. */
export interface StoredSecret {
  readonly data: Readonly<Record<string, string>>;
  readonly resourceVersion: string;
}

/** The three calls the source needs; certs/kube-clients.ts implements them against the apiserver. */
export interface SecretStore {
  read(): Promise<StoredSecret | undefined>;
  /** 'conflict' if the Secret exists already. */
  create(data: Record<string, string>): Promise<StoredSecret | 'conflict'>;
  /** 'conflict' if the Secret changed since `resourceVersion`. */
  replace(data: Record<string, string>, resourceVersion: string): Promise<StoredSecret | 'conflict'>;
}

/** Options of SecretKeyPairSource. */
export interface SecretSourceOptions {
  readonly store: SecretStore;
  /** DNS names and IPs the serving certificate must cover (see serviceDnsNames). */
  readonly hosts: readonly string[];
  readonly now?: (() => Date) | undefined;
  readonly caValidityDays?: number | undefined;
  readonly certValidityDays?: number | undefined;
  /** Renew this long before expiry (default: a third of the certificate's validity). */
  readonly renewBeforeMs?: number | undefined;
  /** How often to re-read the Secret (adopt another replica's renewal, renew our own); a failed pass is retried sooner. */
  readonly checkMs?: number | undefined;
  readonly onError?: ((err: Error) => void) | undefined;
}

/** The Secret's keys: cert-manager's names for the serving pair and CA, plus the CA key we renew with. */
export const SECRET_KEYS = { cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt', caKey: 'ca.key' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

/** KeyPairSource generating its pair into one shared Secret (see the file comment); re-checked every `checkMs`. */
export class SecretKeyPairSource extends KeyPairHolder implements KeyPairSource {
  readonly #opts: SecretSourceOptions;
  readonly #now: () => Date;
  readonly #caDays: number;
  readonly #certDays: number;
  readonly #renewBeforeMs: number;
  #poll: Poll | undefined;

  constructor(opts: SecretSourceOptions) {
    super();
    this.#opts = opts;
    this.#now = opts.now ?? (() => new Date());
    this.#caDays = opts.caValidityDays ?? 3650;
    this.#certDays = opts.certValidityDays ?? 365;
    this.#renewBeforeMs = opts.renewBeforeMs ?? Math.floor((this.#certDays * DAY_MS) / 3);
  }

  /**
   * One pass: adopt the Secret's pair if it is good, else write a new one (create-if-absent or replace
   * at the read resourceVersion) and retry after a conflict. Returns whether the served pair changed.
   */
  async refresh(): Promise<boolean> {
    const attempts = 5;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const stored = await this.#opts.store.read();
      const adopted = stored === undefined ? undefined : this.#usable(stored.data);
      if (adopted !== undefined) return this.set(adopted);
      const data = this.#renew(stored?.data);
      const written =
        stored === undefined
          ? await this.#opts.store.create(data)
          : await this.#opts.store.replace(data, stored.resourceVersion);
      if (written === 'conflict') continue; // another replica wrote first: read theirs
      const pair = this.#usable(written.data);
      if (pair === undefined) throw new AppError(ERRORS.HPS_CERT_SECRET);
      return this.set(pair);
    }
    throw new AppError(ERRORS.HPS_CERT_SECRET_CONFLICT, errorMessage(ERRORS.HPS_CERT_SECRET_CONFLICT, attempts));
  }

  async start(): Promise<void> {
    await this.refresh();
    const checkMs = this.#opts.checkMs ?? 60_000;
    // An apiserver that failed one read usually answers the next: retry from 1 s, never slower than the check.
    this.#poll = poll(
      async () => {
        await this.refresh();
      },
      {
        intervalMs: checkMs,
        backoff: { baseMs: Math.min(1000, checkMs), maxMs: checkMs },
        onError: (err) => this.#opts.onError?.(err),
      },
    );
    this.#poll.start();
  }

  async stop(): Promise<void> {
    await this.#poll?.stop();
  }

  #usable(data: Readonly<Record<string, string>>): KeyPair | undefined {
    const certPem = data[SECRET_KEYS.cert];
    const keyPem = data[SECRET_KEYS.key];
    const caPem = data[SECRET_KEYS.ca];
    if (certPem === undefined || keyPem === undefined || caPem === undefined) return undefined;
    if (!pairIsConsistent({ certPem, keyPem, caPem }, this.#opts.hosts)) return undefined;
    const notAfter = certificateInfo(certPem).notAfter;
    if (notAfter.getTime() - this.#now().getTime() <= this.#renewBeforeMs) return undefined;
    return { certPem, keyPem, caPem, notAfter };
  }

  /** New Secret data: keep the CA while it outlives the next serving certificate, else a new CA too. */
  #renew(old: Readonly<Record<string, string>> | undefined): Record<string, string> {
    const now = this.#now();
    const oldCaPem = old?.[SECRET_KEYS.ca];
    const oldCaKey = old?.[SECRET_KEYS.caKey];
    const firstCa = oldCaPem === undefined ? undefined : splitPemBundle(oldCaPem)[0];
    let ca: { certPem: string; keyPem: string };
    let bundle: string[];
    const certEnd = now.getTime() + this.#certDays * DAY_MS;
    if (firstCa !== undefined && oldCaKey !== undefined && safeNotAfter(firstCa) > certEnd) {
      ca = { certPem: firstCa, keyPem: oldCaKey };
      bundle = splitPemBundle(oldCaPem ?? '').filter((c) => safeNotAfter(c) > now.getTime());
    } else {
      ca = generateCa({ commonName: 'haproxy-peer-sync-webhook-ca', validityDays: this.#caDays, now });
      // Keep the previous CA (if still valid) so pods admitted during the switch keep working.
      bundle = [ca.certPem, ...(firstCa !== undefined && safeNotAfter(firstCa) > now.getTime() ? [firstCa] : [])];
    }
    const serving = generateServingCert({ ca, hosts: this.#opts.hosts, validityDays: this.#certDays, now });
    return {
      [SECRET_KEYS.cert]: serving.certPem,
      [SECRET_KEYS.key]: serving.keyPem,
      [SECRET_KEYS.ca]: bundle.join(''),
      [SECRET_KEYS.caKey]: ca.keyPem,
    };
  }
}

function safeNotAfter(pem: string): number {
  try {
    return certificateInfo(pem).notAfter.getTime();
  } catch {
    return 0;
  }
}
