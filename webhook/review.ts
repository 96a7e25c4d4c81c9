/**
 * AdmissionReview in, AdmissionReview out: decoding, the call into the domain (inject.ts) and the
 * response, pure. The HTTP handler only moves bytes; this module decides what they say.
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request
 */
import type { V1Pod } from '@kubernetes/client-node';
import { decide, type SkipReason } from './inject.ts';
import type { InjectorConfig } from './settings.ts';
import { buildPatch } from './patch.ts';
import { podShapeProblems } from './pod-shape.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

/** The fields of an AdmissionRequest we use. */
export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: { readonly group: string; readonly version: string; readonly kind: string };
  readonly resource?: { readonly group?: string; readonly version?: string; readonly resource?: string } | undefined;
  readonly subResource?: string | undefined;
  readonly namespace?: string | undefined;
  readonly name?: string | undefined;
  readonly operation: string;
  readonly object?: unknown;
  readonly dryRun?: boolean | undefined;
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: 'JSONPatch';
  readonly patch?: string;
  readonly warnings?: string[];
  readonly status?: { readonly code: number; readonly reason: string; readonly message: string };
}

export type DecodeResult =
  { readonly ok: true; readonly request: AdmissionRequest } | { readonly ok: false; readonly message: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The operations of admission.k8s.io/v1 (the apiserver sends no other). */
const OPERATIONS: ReadonlySet<string> = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

/** The apiserver's request UIDs are UUIDs (36 characters); the bound keeps an echoed, logged UID small. */
const MAX_UID_LENGTH = 256;

/**
 * Deeper JSON is refused before it is parsed. A Pod's deepest field (managedFields included) is under
 * 20 levels below the AdmissionReview's 3; V8's recursive JSON.stringify, structuredClone and
 * fast-json-patch's compare overflow the stack somewhere between 1,000 and 5,000 levels (measured on
 * Node 24), and the apiserver's own JSON helpers stop at 10,000.
 */
export const MAX_JSON_DEPTH = 100;

/**
 * More objects and lists than this are refused before parsing too: 3 MiB of `[{},{},…]` parses into
 * about 58 MB of heap (measured), where the webhook runs with 96 MB (deploy/); 100,000 keep a body
 * under about 6 MB of objects, and a pod with a thousand containers, each with a hundred environment
 * variables, still fits.
 */
export const MAX_JSON_CONTAINERS = 100_000;

/**
 * Why the JSON text must not be parsed, if it nests objects and lists deeper than `maxDepth` or holds
 * more than `maxContainers` of them; undefined otherwise. One pass over the characters (brackets inside
 * strings do not count); it does not validate the JSON: the parser does that next.
 *
 * Strings are most of a pod's text, so the scan jumps from a string's opening quote to its closing one
 * with indexOf (a quote closes the string unless an odd number of backslashes precede it) instead of
 * reading every character: this pass runs on every admission, before JSON.parse reads the text again.
 */
export function jsonSizeProblem(
  text: string,
  maxDepth = MAX_JSON_DEPTH,
  maxContainers = MAX_JSON_CONTAINERS,
): string | undefined {
  let depth = 0;
  let containers = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // "
      i = closingQuote(text, i);
      if (i === -1) return undefined; // an unterminated string: the parser refuses it
    } else if (c === 0x7b || c === 0x5b) {
      // { [
      if (++depth > maxDepth) return `the body nests objects or lists more than ${maxDepth} levels deep; no pod does`;
      if (++containers > maxContainers)
        return `the body holds more than ${maxContainers} objects and lists; no pod the webhook can inject does`;
    } else if (c === 0x7d || c === 0x5d) {
      // } ]
      depth--;
    }
  }
  return undefined;
}

/** The index of the quote that closes the string opened at `open`, or -1. */
function closingQuote(text: string, open: number): number {
  let q = text.indexOf('"', open + 1);
  while (q !== -1) {
    let backslashes = 0;
    while (text.charCodeAt(q - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return q;
    q = text.indexOf('"', q + 1);
  }
  return -1;
}

/**
 * Checks that a parsed body is an `admission.k8s.io/v1` AdmissionReview with a usable request; the
 * message says what is wrong, for the 400 answer. v1beta1 is refused: the apiserver sends the first
 * version listed in admissionReviewVersions, and we list only v1. The object itself is checked by
 * {@link review}: a request with a UID gets a review back, naming what is wrong with its object.
 */
export function decodeReview(body: unknown): DecodeResult {
  if (!isObject(body)) return { ok: false, message: 'the body must be a JSON object (an AdmissionReview)' };
  if (body['kind'] !== 'AdmissionReview')
    return { ok: false, message: `kind must be "AdmissionReview", not ${describe(body['kind'])}` };
  if (body['apiVersion'] !== ADMISSION_API_VERSION) {
    return {
      ok: false,
      message: `apiVersion must be "${ADMISSION_API_VERSION}", not ${describe(body['apiVersion'])}; list only v1 in admissionReviewVersions`,
    };
  }
  const request = body['request'];
  if (!isObject(request)) return { ok: false, message: 'request is missing or not an object' };
  const uid = request['uid'];
  if (typeof uid !== 'string' || uid === '' || uid.length > MAX_UID_LENGTH)
    return { ok: false, message: `request.uid must be a non-empty string of at most ${MAX_UID_LENGTH} characters` };
  const kind = request['kind'];
  if (
    !isObject(kind) ||
    typeof kind['kind'] !== 'string' ||
    typeof kind['version'] !== 'string' ||
    typeof (kind['group'] ?? '') !== 'string'
  ) {
    return { ok: false, message: 'request.kind must be an object with group, version and kind' };
  }
  const operation = request['operation'];
  if (typeof operation !== 'string' || !OPERATIONS.has(operation)) {
    return {
      ok: false,
      message: `request.operation must be one of ${[...OPERATIONS].join(', ')}, not ${describe(operation)}`,
    };
  }
  for (const field of ['namespace', 'name', 'subResource'] as const) {
    if (request[field] !== undefined && typeof request[field] !== 'string')
      return { ok: false, message: `request.${field} must be a string` };
  }
  if (request['dryRun'] !== undefined && typeof request['dryRun'] !== 'boolean')
    return { ok: false, message: 'request.dryRun must be a boolean' };
  if (request['resource'] !== undefined && !isObject(request['resource']))
    return { ok: false, message: 'request.resource must be an object' };
  return {
    ok: true,
    request: {
      uid,
      kind: {
        group: typeof kind['group'] === 'string' ? kind['group'] : '',
        version: kind['version'],
        kind: kind['kind'],
      },
      resource: request['resource'],
      subResource: request['subResource'] as string | undefined,
      namespace: request['namespace'] as string | undefined,
      name: request['name'] as string | undefined,
      operation,
      object: request['object'],
      dryRun: request['dryRun'],
    },
  };
}

/** A value from the request, for a message: short strings as they are, anything else by its type. */
function describe(value: unknown): string {
  if (value === undefined || value === null) return 'missing';
  if (typeof value === 'string') return JSON.stringify(value.length <= 64 ? value : `${value.slice(0, 64)}…`);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return Array.isArray(value) ? 'a list' : 'an object';
}

function isPodCreate(kind: Record<string, unknown>, operation: unknown, subResource: unknown): boolean {
  return (
    (kind['group'] ?? '') === '' &&
    kind['kind'] === 'Pod' &&
    operation === 'CREATE' &&
    (subResource === undefined || subResource === '')
  );
}

export type Outcome =
  | { readonly kind: 'injected' }
  | { readonly kind: 'skipped'; readonly reason: SkipReason | 'not-a-pod' | 'not-create' }
  | { readonly kind: 'denied'; readonly message: string };

/** Things that do not block the pod but that its owner should know, e.g. missing RBAC for the syncer. */
export type AccessWarnings = (namespace: string, serviceAccount: string) => Promise<readonly string[]>;

export interface ReviewResult {
  readonly response: AdmissionResponse;
  readonly outcome: Outcome;
  /** For logs: the pod's name, or `<generateName>*` before the apiserver has named it. */
  readonly podName?: string | undefined;
}

/**
 * Answers one admission request. Other kinds, other operations and subresources are allowed unchanged
 * (the webhook configuration should not send them; if it does, we must not block them). A dry-run
 * request gets exactly the same answer: we have no side effects to skip (`sideEffects: None`).
 * A Pod whose fields are not of their Kubernetes types where the webhook reads them is denied with code
 * 400 and the list of those fields, as vault-k8s answers a pod it cannot decode: the review reaches
 * whoever sent the pod, where an HTTP error would only say that the webhook failed.
 */
export async function review(
  request: AdmissionRequest,
  config: InjectorConfig,
  accessWarnings?: AccessWarnings,
): Promise<ReviewResult> {
  const allow = (outcome: Outcome, podName?: string): ReviewResult => ({
    response: { uid: request.uid, allowed: true },
    outcome,
    podName,
  });
  if (!isPodCreate(request.kind, request.operation, request.subResource)) {
    return allow(
      request.kind.kind === 'Pod' && request.kind.group === ''
        ? { kind: 'skipped', reason: 'not-create' }
        : { kind: 'skipped', reason: 'not-a-pod' },
    );
  }
  // Read nothing of the object before its shape is known (webhook/pod-shape.ts).
  const problems = podShapeProblems(request.object);
  if (problems.length > 0) {
    const message = `haproxy-peer-sync cannot read this pod: ${problems.join('; ')}`;
    return {
      response: { uid: request.uid, allowed: false, status: { code: 400, reason: 'BadRequest', message } },
      outcome: { kind: 'denied', message },
    };
  }
  const pod = request.object as V1Pod;
  const named =
    pod.metadata?.name ??
    request.name ??
    (pod.metadata?.generateName === undefined ? undefined : `${pod.metadata.generateName}*`);
  // The apiserver checks a name's length only after the webhooks: a log line keeps a Kubernetes name's worth.
  const podName = named === undefined || named.length <= 253 ? named : `${named.slice(0, 253)}…`;
  const decision = decide(pod, config);
  if (decision.kind === 'skip') return allow({ kind: 'skipped', reason: decision.reason }, podName);
  if (decision.kind === 'deny') {
    return {
      response: {
        uid: request.uid,
        allowed: false,
        status: { code: 403, reason: 'Forbidden', message: decision.message },
      },
      outcome: { kind: 'denied', message: decision.message },
      podName,
    };
  }
  const namespace = request.namespace ?? pod.metadata?.namespace ?? 'default';
  const extra =
    accessWarnings === undefined ? [] : await accessWarnings(namespace, pod.spec?.serviceAccountName ?? 'default');
  const warnings = [...decision.warnings, ...extra];
  return {
    response: {
      uid: request.uid,
      allowed: true,
      patchType: 'JSONPatch',
      patch: Buffer.from(JSON.stringify(buildPatch(pod, decision.pod))).toString('base64'),
      ...(warnings.length > 0 ? { warnings } : {}),
    },
    outcome: { kind: 'injected' },
    podName,
  };
}

const ENVELOPE_HEAD = `{"apiVersion":${JSON.stringify(ADMISSION_API_VERSION)},"kind":"AdmissionReview","response":`;

/**
 * The AdmissionReview answer around `response`: what `JSON.stringify({ apiVersion, kind, response })`
 * writes, byte for byte, without JSON.stringify reading the patch:
 * the patch is base64 (letters, digits, `+`, `/`, `=`: nothing JSON escapes), and it is most of the
 * answer (4 of 4.4 KB for an injected pod), which JSON.stringify would scan for characters to escape.
 */
export function serializeReview(response: AdmissionResponse): string {
  const { patch } = response;
  if (patch === undefined) return `${ENVELOPE_HEAD}${JSON.stringify(response)}}`;
  const rest = JSON.stringify({ ...response, patch: '' });
  // `"patch":""` is in `rest` exactly once: the other keys' values are a UID (a JSON string, its quotes
  // escaped), booleans, a fixed patch type and the warnings/status after it.
  const at = rest.indexOf('"patch":""') + '"patch":"'.length;
  return `${ENVELOPE_HEAD}${rest.slice(0, at)}${patch}${rest.slice(at)}}`;
}
