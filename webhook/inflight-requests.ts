import type { ServerResponse } from 'node:http';

/**
 * The requests in flight, counted at the HTTP server: one listener on each response's `close` (emitted
 * once, when it has been answered or its connection is gone). Fastify's onRequest, onResponse and
 * onRequestAbort hooks did this before, and cost three hook runs per admission plus a listener on the
 * request; the count is only read on close.
 */
export class InflightRequests {
  #count = 0;
  #drained: (() => void) | undefined;
  readonly #ended = (): void => {
    if (--this.#count === 0) this.#drained?.();
  };
  started(response: ServerResponse): void {
    this.#count++;
    response.on('close', this.#ended);
  }
  /** Resolves once no request is in flight. */
  async drained(): Promise<void> {
    if (this.#count === 0) return;
    await new Promise<void>((resolve) => {
      this.#drained = resolve;
    });
  }
}
