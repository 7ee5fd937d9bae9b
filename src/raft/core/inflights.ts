// A bounded window of AppendEntries sent to one follower and not yet acknowledged (pipelining's flow control),
// bounded in messages and in entry bytes (etcd's MaxInflightMsgs and MaxInflightBytes).
import assert from 'node:assert/strict';

export class Inflights {
  readonly capacity: number;
  readonly maxBytes: number;
  /** Last index of each unacknowledged AppendEntries, oldest first. */
  #lastIndexes: number[] = [];
  /** Entry bytes of each, in the same order. */
  #sizes: number[] = [];
  /** The leader's tick when each left, in the same order. */
  #sentTicks: number[] = [];
  #bytes = 0;

  /** `maxBytes` full means no new message, however small; one larger than it still goes into an empty window. */
  constructor(capacity: number, maxBytes = Infinity) {
    assert.ok(capacity > 0, 'in-flight window must hold at least one message');
    assert.ok(maxBytes > 0, 'in-flight window must allow some bytes');
    this.capacity = capacity;
    this.maxBytes = maxBytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get count(): number {
    return this.#lastIndexes.length;
  }

  isFull(): boolean {
    return this.#lastIndexes.length >= this.capacity || this.#bytes >= this.maxBytes;
  }

  add(lastIndex: number, bytes = 0, sentTick = 0): void {
    assert.ok(!this.isFull(), 'in-flight window overflow');
    const newest = this.#lastIndexes[this.#lastIndexes.length - 1];
    assert.ok(newest === undefined || lastIndex > newest, `in-flight ${lastIndex} is not after ${newest}`);
    this.#lastIndexes.push(lastIndex);
    this.#sizes.push(bytes);
    this.#sentTicks.push(sentTick);
    this.#bytes += bytes;
  }

  /** Frees every message whose entries are all acknowledged by a match at `index`. */
  freeTo(index: number): void {
    let n = 0;
    while (n < this.#lastIndexes.length && (this.#lastIndexes[n] ?? Infinity) <= index) n++;
    if (n === 0) return;
    this.#lastIndexes.splice(0, n);
    this.#sentTicks.splice(0, n);
    for (const size of this.#sizes.splice(0, n)) this.#bytes -= size;
  }

  freeFirst(): void {
    this.#lastIndexes.shift();
    this.#sentTicks.shift();
    this.#bytes -= this.#sizes.shift() ?? 0;
  }

  /** When the oldest unacknowledged message left; null when none is in flight. */
  oldestSentTick(): number | null {
    return this.#sentTicks[0] ?? null;
  }

  reset(): void {
    this.#lastIndexes = [];
    this.#sizes = [];
    this.#sentTicks = [];
    this.#bytes = 0;
  }
}
