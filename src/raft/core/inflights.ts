// A bounded window of AppendEntries sent to one follower and not yet acknowledged (pipelining's flow control).
import assert from 'node:assert/strict';

export class Inflights {
  readonly capacity: number;
  /** Last index of each unacknowledged AppendEntries, oldest first. */
  #lastIndexes: number[] = [];

  constructor(capacity: number) {
    assert.ok(capacity > 0, 'in-flight window must hold at least one message');
    this.capacity = capacity;
  }

  get count(): number {
    return this.#lastIndexes.length;
  }

  isFull(): boolean {
    return this.#lastIndexes.length >= this.capacity;
  }

  add(lastIndex: number): void {
    assert.ok(!this.isFull(), 'in-flight window overflow');
    const newest = this.#lastIndexes[this.#lastIndexes.length - 1];
    assert.ok(newest === undefined || lastIndex > newest, `in-flight ${lastIndex} is not after ${newest}`);
    this.#lastIndexes.push(lastIndex);
  }

  /** Frees every message whose entries are all acknowledged by a match at `index`. */
  freeTo(index: number): void {
    let n = 0;
    while (n < this.#lastIndexes.length && (this.#lastIndexes[n] ?? Infinity) <= index) n++;
    if (n > 0) this.#lastIndexes.splice(0, n);
  }

  freeFirst(): void {
    this.#lastIndexes.shift();
  }

  reset(): void {
    this.#lastIndexes = [];
  }
}
