/**
 * The stand-in's pod address pool (the lab's 10.244.x.y by default): each live pod (by UID) holds one address; an address is
 * never handed to a second pod while the first one lives. Allocation continues after the last address
 * handed out instead of taking the lowest free one, the way host-local IPAM does, so a just-freed
 * address is not at once reused by the next pod (peers that still remember it would be confused).
 */
export class AddressPool {
  readonly #first: number;
  readonly #count: number;
  #cursor = 0;
  readonly #byOwner = new Map<string, number>();
  readonly #owners = new Map<number, string>();

  /**
   * @param base first address of the pool, e.g. `10.244.0.10`
   * @param count how many consecutive addresses; default up to the end of base's /24 (x.x.x.254)
   */
  constructor(base = '10.244.0.10', count?: number) {
    this.#first = toInt(base);
    const lastOctet = this.#first & 255;
    this.#count = count ?? Math.max(0, 255 - lastOctet);
    if (this.#count < 1) throw new Error(`address pool at ${base} is empty`);
  }

  /** The owner's address, allocating the next free one if it has none. Throws when the pool is full. */
  allocate(owner: string): string {
    const held = this.#byOwner.get(owner);
    if (held !== undefined) return toIp(held);
    for (let i = 0; i < this.#count; i++) {
      const candidate = this.#first + ((this.#cursor + i) % this.#count);
      if (!this.#owners.has(candidate)) {
        this.#cursor = (candidate - this.#first + 1) % this.#count;
        this.#take(owner, candidate);
        return toIp(candidate);
      }
    }
    throw new Error(`address pool ${toIp(this.#first)} (+${this.#count}) is exhausted`);
  }

  /**
   * Records that `owner` already holds `ip` (a pod that got it before the stand-in restarted).
   * Returns false when `ip` is outside the pool or held by someone else.
   */
  claim(owner: string, ip: string): boolean {
    let n: number;
    try {
      n = toInt(ip);
    } catch {
      return false;
    }
    if (n < this.#first || n >= this.#first + this.#count) return false;
    const holder = this.#owners.get(n);
    if (holder !== undefined) return holder === owner;
    if (this.#byOwner.has(owner)) return false;
    this.#take(owner, n);
    return true;
  }

  /** Frees the owner's address, if it holds one. */
  release(owner: string): void {
    const n = this.#byOwner.get(owner);
    if (n === undefined) return;
    this.#byOwner.delete(owner);
    this.#owners.delete(n);
  }

  /** The owner's address, or undefined. */
  addressOf(owner: string): string | undefined {
    const n = this.#byOwner.get(owner);
    return n === undefined ? undefined : toIp(n);
  }

  /** Number of addresses in use. */
  get size(): number {
    return this.#byOwner.size;
  }

  #take(owner: string, n: number): void {
    this.#byOwner.set(owner, n);
    this.#owners.set(n, owner);
  }
}

function toInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`${ip} is not an IPv4 address`);
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

function toIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
