/**
 * A CA and serving certificates with node-forge: RSA 2048 (forge uses Node's native key generation),
 * SHA-256 signatures, random positive 128-bit serials, and subjectAltNames (Go's TLS stack, i.e. the
 * kube-apiserver, ignores the CN). Pure apart from randomness; the clock is passed in.
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#contacting-the-webhook
 */
import type Forge from 'node-forge';
import { randomBytes, X509Certificate, createPrivateKey } from 'node:crypto';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';

/**
 * node-forge, loaded on the first certificate generated: only generateCa and generateServingCert use
 * it, and a webhook that reads its pair from files or from an existing Secret never does (forge's 42
 * modules are 1.5 MB of heap that such a process would otherwise hold for its whole life).
 */
let loadedForge: typeof Forge | undefined;
const forgeModule = (): typeof Forge => (loadedForge ??= createRequire(import.meta.url)('node-forge') as typeof Forge);

export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** `<service>`, `<service>.<ns>`, `<service>.<ns>.svc` and `<service>.<ns>.svc.cluster.local`. */
export function serviceDnsNames(service: string, namespace: string, clusterDomain = 'cluster.local'): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.${clusterDomain}`,
  ];
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive: a leading 1 bit would make the DER integer negative
  if (bytes[0] === 0) bytes[0] = 0x01; // and no leading zero byte, which DER would strip
  return bytes.toString('hex');
}

function newCertificate(now: Date, validityDays: number): { cert: Forge.pki.Certificate; keys: Forge.pki.rsa.KeyPair } {
  const forge = forgeModule();
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerial();
  // Backdate a little: clocks of the apiserver and the webhook's node may disagree.
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60 * 1000);
  cert.validity.notAfter = new Date(now.getTime() + validityDays * DAY_MS);
  return { cert, keys };
}

/** A self-signed CA allowed to sign server certificates only (pathLen 0). */
export function generateCa(opts: { commonName: string; validityDays: number; now: Date }): PemPair {
  const forge = forgeModule();
  const { cert, keys } = newCertificate(opts.now, opts.validityDays);
  const subject = [{ name: 'commonName', value: opts.commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** A serving certificate for the given DNS names and IP addresses, signed by `ca`. */
export function generateServingCert(opts: {
  ca: PemPair;
  hosts: readonly string[];
  validityDays: number;
  now: Date;
}): PemPair {
  const forge = forgeModule();
  const caCert = forge.pki.certificateFromPem(opts.ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(opts.ca.keyPem);
  const { cert, keys } = newCertificate(opts.now, opts.validityDays);
  cert.setSubject([{ name: 'commonName', value: opts.hosts[0] ?? 'haproxy-peer-sync-webhook' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: opts.hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

export interface CertificateInfo {
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly serialNumber: string;
}

/** Reads the first certificate of a PEM bundle with Node's X509 parser. */
export function certificateInfo(certPem: string): CertificateInfo {
  const x = new X509Certificate(certPem);
  const sans = (x.subjectAltName ?? '').split(', ').filter(Boolean);
  return {
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    dnsNames: sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)),
    ipAddresses: sans.filter((s) => s.startsWith('IP Address:')).map((s) => s.slice('IP Address:'.length)),
    serialNumber: x.serialNumber,
  };
}

/** Splits a PEM bundle into its certificates. */
export function splitPemBundle(pem: string): string[] {
  // Kept byte for byte (forge writes CRLF), so a bundle rebuilt from its parts compares equal.
  return (
    pem
      .match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----(\r?\n)?/g)
      ?.map((c) => (c.endsWith('\n') ? c : `${c}\n`)) ?? []
  );
}

/**
 * True if `pair` is a usable serving pair: the key matches the certificate, one of the CAs in `caPem`
 * issued it, and it covers every wanted host. Expiry is the caller's business (it owns the clock).
 */
export function pairIsConsistent(
  pair: { certPem: string; keyPem: string; caPem: string },
  hosts: readonly string[],
): boolean {
  try {
    const cert = new X509Certificate(pair.certPem);
    if (!cert.checkPrivateKey(createPrivateKey(pair.keyPem))) return false;
    const cas = splitPemBundle(pair.caPem).map((p) => new X509Certificate(p));
    if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) return false;
    const info = certificateInfo(pair.certPem);
    return hosts.every((h) => (isIP(h) ? info.ipAddresses.includes(h) : info.dnsNames.includes(h)));
  } catch {
    return false;
  }
}
