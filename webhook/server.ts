/**
 * The webhook's HTTPS server: `build()` wires routes, TLS and metrics without listening (tests use
 * `app.inject()`), `listen()` binds it.
 *
 * TLS: TLS 1.2 minimum. The server starts without a certificate if none is loaded yet (/readyz says
 * 503 until one is); every key pair the source hands out replaces the server's secure context with
 * `setSecureContext`, which applies to new handshakes only, so a rotation drops no in-flight request
 * and needs no restart. (This also covers clients that send no SNI, e.g. the apiserver calling an IP
 * URL, which an SNICallback alone would not.)
 * https://nodejs.org/api/tls.html#serversetsecurecontextoptions
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { SecureVersion } from 'node:tls';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { ERRORS, errorMessage, type ErrorSpec } from '../common/errors.ts';
import type { Bindings, ChildLoggerOptions } from 'pino';
import type { Logger } from '../common/logger.ts';
import type { KeyPairSource } from '../certs/key-pair.ts';
import type { InjectorConfig } from './settings.ts';
import { jsonSizeProblem, type AccessWarnings } from './review.ts';
import { createMetrics, type WebhookMetrics } from './metrics.ts';
import { registerMutateRoute } from './handler.ts';
import { InflightRequests } from './inflight-requests.ts';

/**
 * The admission body limit: the apiserver's own limit on a write request's body (3 MiB, twice etcd's
 * 1.5 MiB because JSON is larger than the protobuf it stores), so any pod the apiserver accepted fits.
 * A bigger body is refused (413) before it is parsed.
 * https://github.com/kubernetes/apiserver/blob/v0.34.4/pkg/server/config.go (MaxRequestBodyBytes)
 */
export const BODY_LIMIT = 3 * 1024 * 1024;
const MIN_TLS: SecureVersion = 'TLSv1.2';

export interface BuildOptions {
  readonly config: InjectorConfig;
  readonly logger: Logger;
  readonly keyPairs: KeyPairSource;
  readonly accessWarnings?: AccessWarnings | undefined;
  readonly metrics?: WebhookMetrics | undefined;
}

/** Builds the fastify app (not listening). The returned app closes its key pair subscription on close. */
export async function build(opts: BuildOptions): Promise<FastifyInstance> {
  const metrics = opts.metrics ?? createMetrics();
  let tlsServer: HttpsServer | undefined;
  const sockets = new Set<Socket>();
  const inflight = new InflightRequests();
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the app's type the default one.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- without it tsc infers a pino-typed app
    loggerInstance: opts.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyChildLogger,
    bodyLimit: BODY_LIMIT,
    // Our own https server, so its secure context can be swapped on rotation.
    serverFactory: (handler) => {
      const pair = opts.keyPairs.current();
      tlsServer = createHttpsServer(
        { minVersion: MIN_TLS, ...(pair === undefined ? {} : { key: pair.keyPem, cert: pair.certPem }) },
        (req, res) => {
          inflight.started(res);
          handler(req, res);
        },
      );
      tlsServer.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      return tlsServer;
    },
  });
  drainOnClose(app, sockets, inflight);
  const unsubscribe = opts.keyPairs.subscribe((pair) => {
    tlsServer?.setSecureContext({ key: pair.keyPem, cert: pair.certPem, minVersion: MIN_TLS });
    app.log.info({ notAfter: pair.notAfter.toISOString() }, 'serving certificate loaded');
  });
  app.addHook('onClose', async () => {
    unsubscribe();
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { status, code, message } = describeError(err);
    metrics.failed.inc({ code });
    if (status >= 500) request.log.error({ err }, 'request failed');
    else request.log.warn({ code, reason: message }, 'rejected a request');
    return reply.code(status).send({ error: code, message });
  });

  // AdmissionReviews are JSON; fastify's default text/plain parser would let a wrong content type through.
  app.removeContentTypeParser('text/plain');
  // fastify's JSON parser (prototype poisoning refused), after bounds on nesting and on the number of
  // objects (review.ts): V8 parses any depth, but what reads the result later (the patch diff,
  // JSON.stringify) recurses, and a body of tiny objects costs twenty times its size in heap.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const problem = jsonSizeProblem(body as string);
    if (problem !== undefined) {
      done(
        Object.assign(new Error(problem), {
          code: ERRORS.HPS_JSON_TOO_LARGE.code,
          statusCode: ERRORS.HPS_JSON_TOO_LARGE.httpStatus,
        }),
        undefined,
      );
      return;
    }
    // fastify's default parser calls `done` (its type also allows a promise-returning parser).
    void parseJson(request, body as string, done);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (opts.keyPairs.current() === undefined)
      return reply.code(503).send({ status: 'no serving certificate loaded yet' });
    return { status: 'ok' };
  });
  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  registerMutateRoute(app, { config: opts.config, metrics, accessWarnings: opts.accessWarnings });
  await app.ready();
  return app;
}

/**
 * Graceful close that does not hang: the apiserver keeps connections to webhooks open (Go's idle
 * timeout is 90 s) and Node's server.close() waits for every one of them. On close we wait for the
 * requests in flight to be answered (fastify answers new ones 503 meanwhile), then destroy the
 * remaining connections, which by then carry no request.
 */
function drainOnClose(app: FastifyInstance, sockets: ReadonlySet<Socket>, inflight: InflightRequests): void {
  app.addHook('preClose', async () => {
    await inflight.drained();
    for (const socket of sockets) socket.destroy();
  });
}

/**
 * `request.log`, built on first use. Fastify builds one per request, and a child of our redacting logger
 * costs 7 µs (measured, pino 10); most admissions never log through it (their one line goes through
 * handler.ts's own logger), only rejected and failed requests do. One object per request, its methods
 * on the prototype (a closure per level cost 8 allocations per request).
 */
export function lazyChildLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  opts: ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyChild(logger, bindings, opts);
}

class LazyChild implements FastifyBaseLogger {
  readonly #parent: FastifyBaseLogger;
  readonly #bindings: Bindings;
  readonly #opts: ChildLoggerOptions;
  #child: FastifyBaseLogger | undefined;
  constructor(parent: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#opts = opts;
  }
  #real(): FastifyBaseLogger {
    return (this.#child ??= this.#parent.child(this.#bindings, this.#opts));
  }
  get level(): string {
    return this.#real().level;
  }
  set level(level: string) {
    this.#real().level = level;
  }
  fatal(...args: unknown[]): void {
    this.#real().fatal(...(args as [string]));
  }
  error(...args: unknown[]): void {
    this.#real().error(...(args as [string]));
  }
  warn(...args: unknown[]): void {
    this.#real().warn(...(args as [string]));
  }
  info(...args: unknown[]): void {
    this.#real().info(...(args as [string]));
  }
  debug(...args: unknown[]): void {
    this.#real().debug(...(args as [string]));
  }
  trace(...args: unknown[]): void {
    this.#real().trace(...(args as [string]));
  }
  silent(...args: unknown[]): void {
    this.#real().silent(...(args as [string]));
  }
  child(bindings: Bindings, opts?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real().child(bindings, opts);
  }
}

/** Binds the app; port 0 picks a free port. */
export async function listen(app: FastifyInstance, opts: { host: string; port: number }): Promise<AddressInfo> {
  await app.listen({ host: opts.host, port: opts.port });
  return app.server.address() as AddressInfo;
}

/**
 * What a malformed request is told: 415 for a body that is not JSON, 413 for one over the limit, 400
 * for the rest, each with a message saying what to fix; the apiserver only needs "not 200", a human
 * needs why. 500 is left for our own faults.
 */
function describeError(err: FastifyError): { status: number; code: string; message: string } {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return answer(ERRORS.HPS_CONTENT_TYPE);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return answer(ERRORS.HPS_BODY_TOO_LARGE, errorMessage(ERRORS.HPS_BODY_TOO_LARGE, BODY_LIMIT));
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return answer(ERRORS.HPS_EMPTY_BODY);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return answer(ERRORS.HPS_BAD_LENGTH);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return answer(ERRORS.HPS_BAD_JSON);
    case ERRORS.HPS_JSON_TOO_LARGE.code:
      return answer(ERRORS.HPS_JSON_TOO_LARGE, err.message);
    default:
      break;
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return answer(ERRORS.HPS_BAD_REQUEST, err.message, status);
  }
  return answer(ERRORS.HPS_INTERNAL);
}

/** The answer for a code of the catalogue: its HTTP status and message unless the case says otherwise. */
function answer(
  spec: ErrorSpec,
  message = spec.message,
  status = spec.httpStatus ?? 500,
): { status: number; code: string; message: string } {
  return { status, code: spec.code, message };
}
