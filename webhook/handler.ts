/**
 * POST /mutate: HTTP only, like vault-k8s's agent-inject/handler.go. The body has been parsed by
 * fastify (application/json only, size- and depth-limited, server.ts); this decodes the
 * AdmissionReview, asks review.ts for the answer and sends it. A body that is not an AdmissionReview
 * is a 400 with a message; a pod that cannot be injected, or read, is an `allowed: false` review (200),
 * never an HTTP error.
 *
 * Metric labels are taken from fixed sets only (decodeReview admits the four operations of
 * admission.k8s.io/v1), and log fields from the request are clipped: a caller chooses neither the
 * number of series nor the size of a log line.
 */
import type { FastifyInstance } from 'fastify';
import { ERRORS } from '../common/errors.ts';
import type { InjectorConfig } from './settings.ts';
import type { WebhookMetrics } from './metrics.ts';
import { decodeReview, review, serializeReview, type AccessWarnings } from './review.ts';
import { deniedChannel } from './events.ts';

export interface MutateRouteOptions {
  readonly config: InjectorConfig;
  readonly metrics: WebhookMetrics;
  readonly accessWarnings?: AccessWarnings | undefined;
}

/** Registers POST /mutate on `app`. */
export function registerMutateRoute(app: FastifyInstance, opts: MutateRouteOptions): void {
  const { metrics } = opts;
  // The one line per admission skips the logger's redaction (common/logger.ts), which cost more than the
  // rest of the line (16 of 22 µs, measured): its fields are the fixed set below, none of them a secret,
  // and redaction goes by field name, so it could never blank anything in it.
  const admissions = app.log.child({}, { redact: { paths: [] } });
  app.post('/mutate', async (request, reply) => {
    const started = performance.now();
    const decoded = decodeReview(request.body);
    if (!decoded.ok) {
      metrics.requests.inc({ operation: 'invalid' });
      const { code, httpStatus } = ERRORS.HPS_BAD_REVIEW;
      metrics.failed.inc({ code });
      request.log.warn({ code, reason: decoded.message }, 'rejected a malformed AdmissionReview');
      return reply.code(httpStatus).send({ error: code, message: decoded.message });
    }
    const req = decoded.request;
    metrics.requests.inc({ operation: req.operation });
    const result = await review(req, opts.config, opts.accessWarnings);
    const outcome = result.outcome;
    if (outcome.kind === 'injected') metrics.injected.inc();
    else if (outcome.kind === 'skipped') metrics.skipped.inc({ reason: outcome.reason });
    else {
      metrics.denied.inc();
      deniedChannel.publish({ request: req, message: outcome.message });
    } // an Event on the pod's owner (events.ts)
    const seconds = (performance.now() - started) / 1000;
    metrics.duration.observe({ outcome: outcome.kind }, seconds);
    // The apiserver's request UID, to match the audit log: the first field after the request's own
    // id, as request.log would write them, without building a child logger per admission.
    admissions.info(
      {
        reqId: request.id,
        uid: req.uid,
        outcome: outcome.kind,
        // Undefined fields are left out of the line (pino), in one object shape for every admission.
        reason: outcome.kind === 'skipped' ? outcome.reason : undefined,
        message: outcome.kind === 'denied' ? outcome.message : undefined,
        kind: clip(req.kind.kind),
        operation: req.operation,
        namespace: clip(req.namespace),
        pod: result.podName,
        dryRun: req.dryRun === true,
        warnings: result.response.warnings?.length ?? 0,
        ms: Math.round(seconds * 1000),
      },
      'admission reviewed',
    );
    // Serialized here (review.ts), with the content type fastify gives an object it serializes itself.
    return reply.code(200).type('application/json; charset=utf-8').send(serializeReview(result.response));
  });
}

/** A string from the request, for a log line: a Kubernetes name's worth (253 characters) at most. */
function clip(s: string | undefined): string | undefined {
  return s === undefined || s.length <= 253 ? s : `${s.slice(0, 253)}…`;
}
