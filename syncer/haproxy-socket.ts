/**
 * One command over an HAProxy unix socket (admin socket or master CLI). In non-interactive mode
 * HAProxy answers and closes the connection, so the answer is everything read until the close.
 */
import { connect } from 'node:net';
import { ERRORS, HaproxyError } from '../common/errors.ts';

/**
 * Sends `command` and resolves with the whole answer. Rejects with a retryable HaproxyError when the
 * socket is absent or refuses (HAProxy not started yet, or the master re-executing during a reload).
 */
export function socketCommand(path: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect(path);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new HaproxyError(ERRORS.HPS_HAPROXY_TIMEOUT, `"${command}" on ${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.end(`${command}\n`));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(new HaproxyError(ERRORS.HPS_HAPROXY_SOCKET, `"${command}" on ${path}: ${err.message}`, { cause: err }));
    });
    sock.on('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}
