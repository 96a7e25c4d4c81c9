/**
 * Helpers shared by the webhook's tests (unit and against the real apiserver): AdmissionReview
 * builders, a test key pair for 127.0.0.1, and a minimal HTTPS client that trusts a given CA.
 */
import { request as httpsRequest, type Agent } from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.ts';
import { generateCa, generateServingCert } from '../../certs/generate.ts';
import type { KeyPair } from '../../certs/key-pair.ts';
import { certificateInfo } from '../../certs/generate.ts';
import type { InjectorConfig } from '../../webhook/settings.ts';

export const TEST_CONFIG: InjectorConfig = {
  image: 'ghcr.io/haproxy-peer-sync/haproxy-peer-sync:0.0.0-test',
  version: '0.0.0-test',
  sidecarMode: 'native',
  resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '200m', memory: '128Mi' } },
  healthPort: 8585,
  drainSeconds: 5,
};

/** A logger that writes nothing (tests assert on responses and metrics, not on log lines). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** A CA and a serving pair for 127.0.0.1 and localhost. */
export function testKeyPair(hosts: readonly string[] = ['localhost', '127.0.0.1']): KeyPair {
  const now = new Date();
  const ca = generateCa({ commonName: 'hps-test-ca', validityDays: 2, now });
  const serving = generateServingCert({ ca, hosts, validityDays: 1, now });
  return { ...serving, caPem: ca.certPem, notAfter: certificateInfo(serving.certPem).notAfter };
}

/** An `admission.k8s.io/v1` AdmissionReview asking to create `pod`. */
export function podReview(pod: V1Pod, request: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: pod.metadata?.namespace ?? 'default',
      operation: 'CREATE',
      userInfo: { username: 'test' },
      object: pod,
      dryRun: false,
      ...request,
    },
  };
}

export interface HttpsResult {
  status: number;
  body: string;
  headers: Record<string, unknown>;
  peer: PeerCertificate;
}

/** One HTTPS request that trusts only `ca`. */
export function fetchHttps(
  url: string,
  opts: {
    ca: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    agent?: Agent;
    maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  },
): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        // A fresh connection unless the caller passes an agent: tests look at the certificate served.
        method: opts.method ?? 'GET',
        headers: opts.headers,
        ca: opts.ca,
        agent: opts.agent ?? false,
        ...(opts.maxVersion === undefined ? {} : { maxVersion: opts.maxVersion, minVersion: 'TLSv1' as const }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        const peer = (res.socket as TLSSocket).getPeerCertificate();
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
            peer,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}
