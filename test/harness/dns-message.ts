/**
 * The few bits of the DNS wire format (RFC 1035 §4) the cluster-DNS stand-in needs: read one question,
 * write an answer with A records. Pure: bytes in, bytes out.
 */

export interface DnsQuestion {
  readonly id: number;
  readonly name: string;   // lower case, no trailing dot
  readonly type: number;   // 1 = A, 28 = AAAA, ...
  readonly flags: number;
  readonly questionEnd: number; // offset just past the question, to copy it into the answer
}

export const TYPE_A = 1;
export const RCODE_NXDOMAIN = 3;
export const RCODE_FORMERR = 1;

/** Parses the header and the first question; returns undefined for anything malformed. */
export function parseQuery(msg: Buffer): DnsQuestion | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  for (;;) {
    const len = msg[offset];
    if (len === undefined || len > 63) return undefined; // compression pointers never appear in a question we accept
    offset += 1;
    if (len === 0) break;
    if (offset + len > msg.length) return undefined;
    labels.push(msg.subarray(offset, offset + len).toString('latin1').toLowerCase());
    offset += len;
  }
  if (offset + 4 > msg.length) return undefined;
  return { id: msg.readUInt16BE(0), flags: msg.readUInt16BE(2), name: labels.join('.'), type: msg.readUInt16BE(offset), questionEnd: offset + 4 };
}

/**
 * Builds the response to `query`: the question copied back, then one A record per address.
 * `rcode` 0 with no addresses is NODATA (the name exists, not with that type).
 */
export function buildResponse(query: Buffer, q: DnsQuestion, addresses: readonly string[], rcode: number, ttl = 1): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR=1, opcode copied, AA=1, RD copied, RA=1, rcode.
  header.writeUInt16BE(0x8000 | (q.flags & 0x7800) | 0x0400 | (q.flags & 0x0100) | 0x0080 | (rcode & 0xf), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addresses.length, 6);
  const question = query.subarray(12, q.questionEnd);
  const answers = addresses.map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the name in the question
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(1, 4);      // class IN
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
    return rr;
  });
  return Buffer.concat([header, question, ...answers]);
}

/** Encodes a query for `name` (used by tests and health checks). */
export function buildQuery(id: number, name: string, type = TYPE_A): Buffer {
  const parts = name.split('.').filter(Boolean).map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'latin1')]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(type, 1);
  tail.writeUInt16BE(1, 3);
  return Buffer.concat([header, ...parts, tail]);
}

/** Reads the A records of a response (tests). */
export function parseAnswers(msg: Buffer): { rcode: number; addresses: string[] } {
  const q = parseQuery(msg);
  if (!q) throw new Error('malformed DNS response');
  const count = msg.readUInt16BE(6);
  const addresses: string[] = [];
  let offset = q.questionEnd;
  for (let i = 0; i < count; i++) {
    const rdlen = msg.readUInt16BE(offset + 10);
    if (msg.readUInt16BE(offset + 2) === TYPE_A) addresses.push([...msg.subarray(offset + 12, offset + 16)].join('.'));
    offset += 12 + rdlen;
  }
  return { rcode: msg.readUInt16BE(2) & 0xf, addresses };
}
