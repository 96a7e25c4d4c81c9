/**
 * What the init container writes, as text: pure, so the format is tested without a file system.
 * The first peers file is rendered by the syncer's own renderer (syncer/peers.ts), so the file has one
 * format whoever writes it.
 * https://docs.haproxy.org/3.0/configuration.html#3.4 (userlist)
 */
/** The Data Plane API's userlist. `insecure-password` means "stored in clear", which is what the API expects for a generated secret kept in a 0600 file. */
export function renderUserlist(password: string): string {
  return `userlist haproxy-dataplaneapi\n    user admin insecure-password ${password}\n`;
}

/** A password from random bytes (the caller supplies them: at least 16, i.e. 128 bits), base64url so it needs no quoting. */
export function passwordFrom(bytes: Uint8Array): string {
  if (bytes.length < 16) throw new RangeError('a password needs at least 128 random bits');
  return Buffer.from(bytes).toString('base64url');
}
