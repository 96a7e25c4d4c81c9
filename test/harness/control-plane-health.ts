/** Health probes of the control plane's processes: plain GETs with a short timeout. */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** TLS material for a probe: the CA to trust and, optionally, a client cert. */
export interface ProbeTls {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/** Status code and body of a GET. */
export interface ProbeResult {
  readonly status: number;
  readonly body: string;
}

/** GET `url` (http or https), failing after `timeoutMs`. Rejects on connection errors. */
export function probe(url: string, tls?: ProbeTls, timeoutMs = 2000): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const options = { timeout: timeoutMs, ...(tls ?? {}) };
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** A check for {@link waitFor}: true once `url` answers 200 (and `bodyIncludes`, when given). */
export function healthy(url: string, tls?: ProbeTls, bodyIncludes?: string): () => Promise<boolean> {
  return async () => {
    const res = await probe(url, tls);
    if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${res.body.slice(0, 300)}`);
    return bodyIncludes === undefined || res.body.includes(bodyIncludes);
  };
}
