/**
 * AdmissionReview in, AdmissionReview out: decoding, the call into the domain (inject.ts) and the
 * response, pure. The HTTP handler only moves bytes; this module decides what they say.
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request
 */
import type { V1Pod } from '@kubernetes/client-node';
import { decide, type InjectorConfig, type SkipReason } from './inject.ts';
import { buildPatch } from './patch.ts';

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

export type DecodeResult = { readonly ok: true; readonly request: AdmissionRequest } | { readonly ok: false; readonly message: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks that a parsed body is an `admission.k8s.io/v1` AdmissionReview with a usable request; the
 * message says what is wrong, for the 400 answer. v1beta1 is refused: the apiserver sends the first
 * version listed in admissionReviewVersions, and we list only v1.
 */
export function decodeReview(body: unknown): DecodeResult {
  if (!isObject(body)) return { ok: false, message: 'the body must be a JSON object (an AdmissionReview)' };
  if (body['kind'] !== 'AdmissionReview') return { ok: false, message: `kind must be "AdmissionReview", got ${JSON.stringify(body['kind'] ?? null)}` };
  if (body['apiVersion'] !== ADMISSION_API_VERSION) {
    return { ok: false, message: `apiVersion must be "${ADMISSION_API_VERSION}", got ${JSON.stringify(body['apiVersion'] ?? null)}; list only v1 in admissionReviewVersions` };
  }
  const request = body['request'];
  if (!isObject(request)) return { ok: false, message: 'request is missing or not an object' };
  const uid = request['uid'];
  if (typeof uid !== 'string' || uid === '') return { ok: false, message: 'request.uid must be a non-empty string' };
  const kind = request['kind'];
  if (!isObject(kind) || typeof kind['kind'] !== 'string' || typeof kind['version'] !== 'string' || typeof (kind['group'] ?? '') !== 'string') {
    return { ok: false, message: 'request.kind must be an object with group, version and kind' };
  }
  const operation = request['operation'];
  if (typeof operation !== 'string' || operation === '') return { ok: false, message: 'request.operation must be a non-empty string' };
  for (const field of ['namespace', 'name', 'subResource'] as const) {
    if (request[field] !== undefined && typeof request[field] !== 'string') return { ok: false, message: `request.${field} must be a string` };
  }
  if (request['dryRun'] !== undefined && typeof request['dryRun'] !== 'boolean') return { ok: false, message: 'request.dryRun must be a boolean' };
  if (request['resource'] !== undefined && !isObject(request['resource'])) return { ok: false, message: 'request.resource must be an object' };
  if (isPodCreate(kind, operation, request['subResource'])) {
    const object = request['object'];
    if (!isObject(object)) return { ok: false, message: 'request.object must be the Pod being created' };
    const spec = object['spec'];
    if (!isObject(spec) || !Array.isArray(spec['containers'])) return { ok: false, message: 'request.object is not a Pod: spec.containers is missing' };
    const problem = podShapeProblem(object, spec);
    if (problem !== undefined) return { ok: false, message: `request.object is not a Pod: ${problem}` };
  }
  return {
    ok: true,
    request: {
      uid,
      kind: { group: typeof kind['group'] === 'string' ? kind['group'] : '', version: kind['version'], kind: kind['kind'] },
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

/**
 * The shape the domain relies on (the apiserver validates pods only after mutating webhooks ran, so
 * anything may arrive): containers are objects with a name, labels and annotations map to strings.
 */
function podShapeProblem(object: Record<string, unknown>, spec: Record<string, unknown>): string | undefined {
  const metadata = object['metadata'];
  if (metadata !== undefined && !isObject(metadata)) return 'metadata must be an object';
  for (const field of ['labels', 'annotations'] as const) {
    const map = isObject(metadata) ? metadata[field] : undefined;
    if (map !== undefined && (!isObject(map) || Object.values(map).some((v) => typeof v !== 'string'))) return `metadata.${field} must map strings to strings`;
  }
  for (const field of ['containers', 'initContainers'] as const) {
    const list = spec[field];
    if (list === undefined && field === 'initContainers') continue;
    if (!Array.isArray(list) || list.some((c) => !isObject(c) || typeof c['name'] !== 'string')) return `spec.${field} must be a list of containers with names`;
    for (const c of list as Array<Record<string, unknown>>) {
      for (const argv of ['command', 'args'] as const) {
        const value = c[argv];
        if (value !== undefined && (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))) return `spec.${field}[${String(c['name'])}].${argv} must be a list of strings`;
      }
      const mounts = c['volumeMounts'];
      if (mounts !== undefined && (!Array.isArray(mounts) || mounts.some((m) => !isObject(m) || typeof m['mountPath'] !== 'string'))) return `spec.${field}[${String(c['name'])}].volumeMounts must be a list of mounts`;
    }
  }
  if (spec['volumes'] !== undefined && !Array.isArray(spec['volumes'])) return 'spec.volumes must be a list';
  return undefined;
}

function isPodCreate(kind: Record<string, unknown>, operation: unknown, subResource: unknown): boolean {
  return (kind['group'] ?? '') === '' && kind['kind'] === 'Pod' && operation === 'CREATE' && (subResource === undefined || subResource === '');
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
 */
export async function review(request: AdmissionRequest, config: InjectorConfig, accessWarnings?: AccessWarnings): Promise<ReviewResult> {
  const allow = (outcome: Outcome, podName?: string): ReviewResult => ({ response: { uid: request.uid, allowed: true }, outcome, podName });
  if (!isPodCreate(request.kind, request.operation, request.subResource)) {
    return allow(request.kind.kind === 'Pod' && request.kind.group === '' ? { kind: 'skipped', reason: 'not-create' } : { kind: 'skipped', reason: 'not-a-pod' });
  }
  const pod = request.object as V1Pod;
  const podName = pod.metadata?.name ?? request.name ?? (pod.metadata?.generateName === undefined ? undefined : `${pod.metadata.generateName}*`);
  const decision = decide(pod, config);
  if (decision.kind === 'skip') return allow({ kind: 'skipped', reason: decision.reason }, podName);
  if (decision.kind === 'deny') {
    return {
      response: { uid: request.uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: decision.message } },
      outcome: { kind: 'denied', message: decision.message },
      podName,
    };
  }
  const namespace = request.namespace ?? pod.metadata?.namespace ?? 'default';
  const extra = accessWarnings === undefined ? [] : await accessWarnings(namespace, pod.spec?.serviceAccountName ?? 'default');
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

/** The review envelope around a response. */
export function reviewEnvelope(response: AdmissionResponse): { apiVersion: string; kind: 'AdmissionReview'; response: AdmissionResponse } {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}
