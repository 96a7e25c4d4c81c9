/**
 * One catalogue of the errors the product raises, as fastify's lib/errors.js: each code once, with its
 * message (the default, or a `%s`/`%d` template for errorMessage), whether retrying can help, and the
 * HTTP status where the code is a webhook answer. Logs, metrics (`errors_total{code}`), /status and
 * tests key on the code; retry decisions read `retryable`, never the message. README "Errors" lists
 * the codes. Code that throws or counts one names it as `ERRORS.HPS_…`, never as a string of its own:
 * common/errors.test.ts greps the sources for that.
 */
import { format } from 'node:util';

/** One entry of the catalogue. */
export interface ErrorSpec {
  readonly code: ErrorCode;
  /** The message, or a template filled by errorMessage; a throw site may pass a message of its own. */
  readonly message: string;
  /** Whether the same call may succeed later by itself; an ApiError's HTTP status can say otherwise. */
  readonly retryable: boolean;
  /** The HTTP status the webhook answers with this code (only for codes that are webhook answers). */
  readonly httpStatus?: number;
  /** The role whose `errors_total{code}` counts this code; that role's counter starts at 0 for it. */
  readonly counted?: 'syncer' | 'webhook';
}

const SPECS = {
  // Any role
  HPS_CONFIG: {
    message: 'a flag, environment variable, annotation or kubeconfig holds a value the program cannot use',
    retryable: false,
  },
  HPS_KUBE_API: {
    message: 'the Kubernetes API did not answer, or answered with an unexpected status',
    retryable: true,
  },

  // Webhook: answers to a request it cannot use (README "What the webhook answers")
  HPS_CONTENT_TYPE: {
    message: 'Content-Type must be application/json (an AdmissionReview)',
    retryable: false,
    httpStatus: 415,
    counted: 'webhook',
  },
  HPS_BODY_TOO_LARGE: {
    message: "the body is larger than %d bytes (3 MiB, the apiserver's own request limit)",
    retryable: false,
    httpStatus: 413,
    counted: 'webhook',
  },
  HPS_EMPTY_BODY: {
    message: 'the body is empty; expected an AdmissionReview',
    retryable: false,
    httpStatus: 400,
    counted: 'webhook',
  },
  HPS_BAD_LENGTH: {
    message: 'the body does not match its Content-Length',
    retryable: false,
    httpStatus: 400,
    counted: 'webhook',
  },
  HPS_BAD_JSON: {
    message: 'the body is not valid JSON, or it has a "__proto__" or "constructor.prototype" key',
    retryable: false,
    httpStatus: 400,
    counted: 'webhook',
  },
  HPS_JSON_TOO_LARGE: {
    message: 'the JSON is nested too deep or holds too many objects and lists',
    retryable: false,
    httpStatus: 400,
    counted: 'webhook',
  },
  HPS_BAD_REVIEW: {
    message: 'the body is not an admission.k8s.io/v1 AdmissionReview',
    retryable: false,
    httpStatus: 400,
    counted: 'webhook',
  },
  HPS_BAD_REQUEST: { message: 'the request is malformed', retryable: false, httpStatus: 400, counted: 'webhook' },
  HPS_INTERNAL: {
    message: "internal error; see the webhook's log",
    retryable: false,
    httpStatus: 500,
    counted: 'webhook',
  },

  // Webhook: its serving certificate
  HPS_CERT_FILES: { message: 'the certificate files do not form a key pair issued by the CA', retryable: true },
  HPS_CERT_SECRET: { message: 'the Secret we just wrote does not hold a usable key pair', retryable: false },
  HPS_CERT_SECRET_CONFLICT: {
    message: 'the certificate Secret kept changing under us (%d conflicts in a row)',
    retryable: true,
  },

  // Syncer (README "Metrics": haproxy_peer_sync_syncer_errors_total)
  HPS_WATCH: { message: 'the EndpointSlice list or watch failed', retryable: true, counted: 'syncer' },
  HPS_HAPROXY_SOCKET: { message: "HAProxy's master CLI socket cannot be reached", retryable: true, counted: 'syncer' },
  HPS_HAPROXY_TIMEOUT: { message: "HAProxy's master CLI did not answer in time", retryable: true, counted: 'syncer' },
  HPS_HAPROXY_ANSWER: {
    message: "HAProxy's master CLI answered something the syncer cannot read",
    retryable: true,
    counted: 'syncer',
  },
  HPS_HAPROXY_VERSION: {
    message: 'an HAProxy version this syncer does not know: refused, the replica stays un-Ready',
    retryable: true,
    counted: 'syncer',
  },
  HPS_PEERS_FILE: { message: 'the peers file cannot be read or written', retryable: true, counted: 'syncer' },
  HPS_RELOAD_FAILED: {
    message: 'HAProxy rejected the configuration on reload; the previous worker keeps serving',
    retryable: true,
    counted: 'syncer',
  },
  HPS_RELOAD_TIMEOUT: { message: 'reload not confirmed by show proc in time', retryable: true, counted: 'syncer' },
  HPS_DPAPI_DOWN: { message: 'the Data Plane API does not answer', retryable: true, counted: 'syncer' },
  HPS_DPAPI: {
    message: 'the Data Plane API answered with a status the syncer did not expect',
    retryable: true,
    counted: 'syncer',
  },
  HPS_UNEXPECTED: {
    message: 'an error the syncer does not know (a bug: see its log)',
    retryable: true,
    counted: 'syncer',
  },
  /** Not thrown: /status's last error when the table resync ended without a teacher (only a restart of HAProxy helps). */
  HPS_UNTAUGHT: {
    message: 'the table resync ended without a teacher; un-Ready until HAProxy restarts',
    retryable: false,
  },
} as const satisfies Record<`HPS_${string}`, Omit<ErrorSpec, 'code'>>;

export type ErrorCode = keyof typeof SPECS;

type Catalogue = { readonly [C in ErrorCode]: (typeof SPECS)[C] & { readonly code: C } };

/** The catalogue, by code (each entry's fields as literal types: `ERRORS.HPS_BAD_REVIEW.httpStatus` is 400). */
export const ERRORS: Catalogue = Object.freeze(
  Object.fromEntries(Object.entries(SPECS).map(([code, spec]) => [code, Object.freeze({ code, ...spec })])),
) as Catalogue;

/** Every code of the catalogue. */
export const ERROR_CODES: readonly ErrorCode[] = Object.freeze(Object.keys(ERRORS) as ErrorCode[]);

/** Whether `code` is one of the catalogue's (for a code read from outside: a metric label, a library's error). */
/** Error codes that mean a reload was asked for and did not happen (syncer/direct.ts, dataplaneapi.ts). */
export const RELOAD_FAILURE_CODES: ReadonlySet<string> = new Set([
  ERRORS.HPS_RELOAD_FAILED.code,
  ERRORS.HPS_RELOAD_TIMEOUT.code,
]);

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERRORS, code);
}

/** The codes one role's `errors_total{code}` counts, so that its counter can start at 0 for each. */
export function countedCodes(role: 'syncer' | 'webhook'): ErrorCode[] {
  return ERROR_CODES.filter((code) => (ERRORS[code] as ErrorSpec).counted === role);
}

/** The spec's message template filled with `values` (util.format: `%s`, `%d`). */
export function errorMessage(spec: ErrorSpec, ...values: unknown[]): string {
  return format(spec.message, ...values);
}

export interface ErrorOptions {
  readonly cause?: unknown;
  /** Overrides the catalogue's `retryable` where the case knows better (an HTTP status). */
  readonly retryable?: boolean | undefined;
}

/** An error of the catalogue: `code` and (unless the throw site knows better) `retryable` come from `spec`. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  constructor(spec: ErrorSpec, message: string = spec.message, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = spec.code;
    this.retryable = options.retryable ?? spec.retryable;
  }
}

/** A flag, environment variable or annotation holds a value the program cannot use. */
export class ConfigError extends AppError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(ERRORS.HPS_CONFIG, problems.join('; '));
    this.problems = problems;
  }
}

/** An HTTP API (Data Plane API, Kubernetes) answered with an unexpected status or not at all. */
export class ApiError extends AppError {
  readonly status: number | undefined;
  constructor(spec: ErrorSpec, message: string, options: ErrorOptions & { readonly status?: number | undefined } = {}) {
    super(spec, message, options);
    this.status = options.status;
  }
}

/** HAProxy refused a command or a configuration, or its master CLI did not answer. */
export class HaproxyError extends AppError {}
