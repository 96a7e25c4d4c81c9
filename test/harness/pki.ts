/**
 * The control plane's certificates, made with the `openssl` CLI the way controller-runtime's envtest
 * prepares kube-apiserver: one CA, a serving cert for 127.0.0.1/localhost, an admin client cert in the
 * group `system:masters`, and an RSA key pair that signs service-account tokens.
 * https://kubernetes.io/docs/setup/best-practices/certificates/
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A PEM certificate and its private key, as files. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

/** Every file of the control plane's PKI (absolute paths) and the CA as PEM text. */
export interface Pki {
  readonly ca: CertFiles;
  readonly caPem: string;
  /** kube-apiserver's serving cert: 127.0.0.1, localhost and the `kubernetes` Service names. */
  readonly apiserverServing: CertFiles;
  /** kube-controller-manager's serving cert, so its /healthz can be checked against our CA. */
  readonly controllerManagerServing: CertFiles;
  /** Client cert CN=hps-admin, O=system:masters: full access through RBAC's superuser group. */
  readonly admin: CertFiles;
  /** RSA private key that signs service-account tokens (apiserver and controller-manager). */
  readonly serviceAccountKey: string;
  /** Its public half, which the apiserver uses to verify tokens. */
  readonly serviceAccountPublicKey: string;
}

/** Options of {@link createPki}. */
export interface PkiOptions {
  /** First address of the service CIDR: the `kubernetes` Service's ClusterIP, a SAN of the serving cert. */
  readonly kubernetesServiceIp: string;
  /** More addresses the apiserver is reached at (the lab node's address). */
  readonly extraIps?: readonly string[];
}

// A config with no default extensions: openssl's stock config would mark every leaf as a CA.
const OPENSSL_CONFIG = '[req]\ndistinguished_name = dn\n[dn]\n';
const DAYS = '30';
// P-256 keys take milliseconds to generate where RSA takes up to a second on a slow core.
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Writes the PKI into `dir` (which must exist) and returns the paths. Runs the openssl calls in parallel. */
export async function createPki(dir: string, opts: PkiOptions): Promise<Pki> {
  await writeFile(join(dir, 'openssl.cnf'), OPENSSL_CONFIG);
  const ca = files(dir, 'ca');
  await openssl([
    'req',
    '-config',
    join(dir, 'openssl.cnf'),
    '-x509',
    ...EC_KEY,
    '-keyout',
    ca.key,
    '-out',
    ca.cert,
    '-days',
    DAYS,
    '-subj',
    '/CN=haproxy-peer-sync-test-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);

  const leaf = (name: string, subject: string, usage: string, san?: string): Promise<CertFiles> =>
    issueLeaf(dir, ca, name, subject, usage, san);
  const apiserverSans = [
    'IP:127.0.0.1',
    `IP:${opts.kubernetesServiceIp}`,
    ...(opts.extraIps ?? []).map((ip) => `IP:${ip}`),
    'DNS:localhost',
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
  ].join(',');
  const saKey = join(dir, 'sa.key');
  const saPub = join(dir, 'sa.pub');
  const [apiserverServing, controllerManagerServing, admin] = await Promise.all([
    leaf('apiserver', '/CN=kube-apiserver', 'serverAuth', apiserverSans),
    leaf('controller-manager', '/CN=kube-controller-manager', 'serverAuth', 'IP:127.0.0.1,DNS:localhost'),
    leaf('admin', '/O=system:masters/CN=hps-admin', 'clientAuth'),
    // RS256 is what every token verifier accepts; later tests mint tokens with this key.
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', saKey]).then(() =>
      openssl(['pkey', '-in', saKey, '-pubout', '-out', saPub]),
    ),
  ]);
  return {
    ca,
    caPem: await readFile(ca.cert, 'utf8'),
    apiserverServing,
    controllerManagerServing,
    admin,
    serviceAccountKey: saKey,
    serviceAccountPublicKey: saPub,
  };
}

/**
 * A certificate signed by the CA of `dir` (made by {@link createPki}): `usage` is the extended key usage
 * (`serverAuth` or `clientAuth`); for a client, the subject's CN is the user and each O a group.
 */
export async function issueLeaf(
  dir: string,
  ca: CertFiles,
  name: string,
  subject: string,
  usage: string,
  san?: string,
): Promise<CertFiles> {
  const out = files(dir, name);
  await openssl([
    'req',
    '-config',
    join(dir, 'openssl.cnf'),
    '-x509',
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    ...EC_KEY,
    '-keyout',
    out.key,
    '-out',
    out.cert,
    '-days',
    DAYS,
    '-subj',
    subject,
    '-addext',
    'basicConstraints=critical,CA:FALSE',
    '-addext',
    'keyUsage=critical,digitalSignature',
    '-addext',
    `extendedKeyUsage=${usage}`,
    ...(san ? ['-addext', `subjectAltName=${san}`] : []),
  ]);
  return out;
}

function files(dir: string, name: string): CertFiles {
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0] ?? ''} failed: ${stderr.trim() || String(err)}`, { cause: err });
  }
}
