// The job records a store should hold, as a count and an order-free digest of their keys, kept by every apply.
//
// LevelDB checks no block checksum on reads, so a changed byte in a table's key can rename a job's record: a lookup by
// id then misses it (404 for an acknowledged job) while the count still adds up, and if the new key keeps its place
// in key order nothing at open sees it. The digest does: it is the XOR of a 64-bit hash of every job key, which
// creates and removals update in O(1) and a start recomputes from the keys it counts anyway.

export class JobKeyTally {
  #count: number;
  #high: number;
  #low: number;

  private constructor(count: number, high: number, low: number) {
    this.#count = count;
    this.#high = high;
    this.#low = low;
  }

  static empty(): JobKeyTally {
    return new JobKeyTally(0, 0, 0);
  }

  get count(): number {
    return this.#count;
  }

  /** Sixteen hex digits; the same set of keys gives the same digest whatever the order they were added in. */
  get digest(): string {
    return this.#high.toString(16).padStart(8, '0') + this.#low.toString(16).padStart(8, '0');
  }

  add(key: string): void {
    this.#count++;
    this.#toggle(key);
  }

  remove(key: string): void {
    this.#count--;
    this.#toggle(key);
  }

  copy(): JobKeyTally {
    return new JobKeyTally(this.#count, this.#high, this.#low);
  }

  static isDigest(value: unknown): value is string {
    return typeof value === 'string' && /^[0-9a-f]{16}$/.test(value);
  }

  /**
   * FNV-1a over the key's UTF-16 code units in two lanes with different odd multipliers. Each step is a bijection,
   * so keys of one length that differ in a single code unit always hash apart in both lanes.
   */
  #toggle(key: string): void {
    let a = 0x811c9dc5;
    let b = 0x9747b28c;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
    }
    this.#high = (this.#high ^ a) >>> 0;
    this.#low = (this.#low ^ b) >>> 0;
  }
}
