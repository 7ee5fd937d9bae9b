// The scheduler's queue: a min-heap of time slots (floor(dueAtMs / slotGapMs)), each a min-heap of its fires.
//
// Only near slots are held (the scheduler loads far ones from the next-fire index as they approach), so the heap
// stays small however many jobs are stored. Each key (a job's next fire, or one manual fire) has at most one
// entry: setting it again replaces it. Removal is lazy: a replaced or deleted entry stays in its slot's heap until
// it reaches the top, and is skipped there, so every operation is O(log n).
import assert from 'node:assert/strict';

export interface QueuedFire {
  /** `tenant/id` for a job's scheduled fire. */
  readonly key: string;
  readonly tenant: string;
  readonly id: string;
  readonly scheduledAtMs: number;
  /** When the scheduler acts on it: the send time (scheduled + jitter), less the claim lead of at_most_once. */
  readonly dueAtMs: number;
  /** When the request goes out (scheduled + jitter). */
  readonly sendAtMs: number;
}

/** A binary min-heap over an array; `less` orders it. */
export class MinHeap<T> {
  readonly #items: T[] = [];
  readonly #less: (a: T, b: T) => boolean;

  constructor(less: (a: T, b: T) => boolean) {
    this.#less = less;
  }

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(items[i] as T, items[parent] as T)) break;
      [items[i], items[parent]] = [items[parent] as T, items[i] as T];
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let least = i;
        if (left < items.length && this.#less(items[left] as T, items[least] as T)) least = left;
        if (right < items.length && this.#less(items[right] as T, items[least] as T)) least = right;
        if (least === i) break;
        [items[i], items[least]] = [items[least] as T, items[i] as T];
        i = least;
      }
    }
    return top;
  }

  clear(): void {
    this.#items.length = 0;
  }
}

const earlier = (a: QueuedFire, b: QueuedFire): boolean => a.dueAtMs < b.dueAtMs || (a.dueAtMs === b.dueAtMs && a.key < b.key);

interface Slot {
  readonly heap: MinHeap<QueuedFire>;
  live: number;
}

export class SlotHeap {
  readonly #slotGapMs: number;
  readonly #slotOrder = new MinHeap<number>((a, b) => a < b);
  readonly #slots = new Map<number, Slot>();
  /** The live entry of each key: an entry in a slot's heap that is not this object is stale. */
  readonly #entries = new Map<string, QueuedFire>();

  constructor(slotGapMs: number) {
    assert.ok(Number.isSafeInteger(slotGapMs) && slotGapMs >= 1, `slot gap ${slotGapMs} must be a positive integer`);
    this.#slotGapMs = slotGapMs;
  }

  slotOf(atMs: number): number {
    return Math.floor(atMs / this.#slotGapMs);
  }

  /** Fires held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Slots holding at least one fire. */
  get slotCount(): number {
    let count = 0;
    for (const slot of this.#slots.values()) if (slot.live > 0) count++;
    return count;
  }

  get(key: string): QueuedFire | undefined {
    return this.#entries.get(key);
  }

  /** Adds the fire, replacing the key's entry if it has one. */
  set(fire: QueuedFire): void {
    this.delete(fire.key);
    this.#entries.set(fire.key, fire);
    const number = this.slotOf(fire.dueAtMs);
    let slot = this.#slots.get(number);
    if (slot === undefined) {
      slot = { heap: new MinHeap(earlier), live: 0 };
      this.#slots.set(number, slot);
      this.#slotOrder.push(number);
    }
    slot.heap.push(fire);
    slot.live++;
  }

  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#entries.delete(key);
    const slot = this.#slots.get(this.slotOf(entry.dueAtMs));
    assert.ok(slot !== undefined && slot.live > 0, `fire ${key} is held but its slot is not`);
    slot.live--;
    return true;
  }

  /** The fire due first. */
  peek(): QueuedFire | undefined {
    for (;;) {
      const number = this.#slotOrder.peek();
      if (number === undefined) return undefined;
      const slot = this.#slots.get(number);
      if (slot === undefined || slot.live === 0) {
        // A drained slot leaves the order for good; a later fire in it makes it anew.
        this.#slotOrder.pop();
        this.#slots.delete(number);
        continue;
      }
      for (let top = slot.heap.peek(); top !== undefined; top = slot.heap.peek()) {
        if (this.#entries.get(top.key) === top) return top;
        slot.heap.pop();
      }
      assert.fail(`slot ${number} counts ${slot.live} live fires but holds none`);
    }
  }

  /** Removes and returns the fire due first. */
  pop(): QueuedFire | undefined {
    const top = this.peek();
    if (top !== undefined) this.delete(top.key);
    return top;
  }

  clear(): void {
    this.#slotOrder.clear();
    this.#slots.clear();
    this.#entries.clear();
  }
}
