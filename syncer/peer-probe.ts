/**
 * Asks a remote HAProxy whether it has declared this pod as a peer, by opening a peers-protocol
 * session the way HAProxy itself does and reading the status line, then closing at once.
 * `200` = accepted, `504` (UNKN) = our name is not declared there, `503` (NAME) = wrong remote name.
 * (src/peers.c: "HAProxyS 2.1" hello: protocol, remote id, local id + pid + relative pid.)
 */
import { connect } from 'node:net';

/** The status code the remote answered, or undefined when it could not be reached or said nothing. */
export function probePeer(opts: {
  host: string;
  port: number;
  remoteName: string;
  localName: string;
  timeoutMs?: number;
}): Promise<number | undefined> {
  return new Promise((resolve) => {
    const sock = connect({ host: opts.host, port: opts.port });
    let buf = '';
    const done = (code: number | undefined): void => {
      sock.destroy();
      resolve(code);
    };
    sock.setTimeout(opts.timeoutMs ?? 1000, () => done(undefined));
    sock.on('connect', () => sock.write(`HAProxyS 2.1\n${opts.remoteName}\n${opts.localName} ${process.pid} 1\n`));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const nl = buf.indexOf('\n');
      if (nl !== -1) done(/^\d+$/.test(buf.slice(0, nl)) ? Number(buf.slice(0, nl)) : undefined);
    });
    sock.on('error', () => done(undefined));
    sock.on('close', () => done(undefined));
  });
}
