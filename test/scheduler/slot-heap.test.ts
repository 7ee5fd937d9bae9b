// The slot heap against a plain sorted model: random sets, deletes and pops agree, and slots hold what they should.
import fc from 'fast-check';
import t from 'tap';
import { MinHeap, type QueuedFire, SlotHeap } from '../../src/scheduler/slot-heap.js';

const fire = (key: string, dueAtMs: number): QueuedFire => ({ key, tenant: 't', id: key, scheduledAtMs: dueAtMs, dueAtMs, sendAtMs: dueAtMs });

t.test('fires come out in due order, each key once, whatever the order of sets, replacements and deletes', async () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 40 }), at: fc.integer({ min: 0, max: 100_000 }) }),
    fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 40 }) }),
    fc.record({ kind: fc.constant('pop' as const) }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 300 }), fc.integer({ min: 1, max: 20_000 }), (ops, gapMs) => {
    const heap = new SlotHeap(gapMs);
    const model = new Map<string, number>();
    for (const o of ops) {
      if (o.kind === 'set') {
        heap.set(fire(`k${o.key}`, o.at));
        model.set(`k${o.key}`, o.at);
      } else if (o.kind === 'delete') {
        if (heap.delete(`k${o.key}`) !== model.delete(`k${o.key}`)) return false;
      } else {
        const expected = [...model].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0];
        const got = heap.pop();
        if (expected === undefined) {
          if (got !== undefined) return false;
        } else {
          if (got?.key !== expected[0] || got.dueAtMs !== expected[1]) return false;
          model.delete(expected[0]);
        }
      }
      if (heap.size !== model.size) return false;
      const slots = new Set([...model.values()].map((at) => Math.floor(at / gapMs)));
      if (heap.slotCount !== slots.size) return false;
    }
    const drained: number[] = [];
    for (let f = heap.pop(); f !== undefined; f = heap.pop()) drained.push(f.dueAtMs);
    return drained.length === model.size && drained.every((v, i) => i === 0 || (drained[i - 1] as number) <= v);
  }), { numRuns: 500 });
});

t.test('a fire goes to slot floor(due / SLOT_GAP); a drained slot leaves, and a new fire in it brings it back', async (t) => {
  const heap = new SlotHeap(10_000);
  t.equal(heap.slotOf(19_999), 1);
  t.equal(heap.slotOf(20_000), 2);
  heap.set(fire('a', 15_000));
  heap.set(fire('b', 12_000));
  heap.set(fire('c', 35_000));
  t.equal(heap.slotCount, 2);
  t.equal(heap.peek()?.key, 'b', 'within a slot, each fire at its own millisecond');
  t.equal(heap.pop()?.key, 'b');
  t.equal(heap.pop()?.key, 'a');
  t.equal(heap.slotCount, 1);
  heap.set(fire('d', 11_000));
  t.equal(heap.slotCount, 2);
  t.strictSame([heap.pop()?.key, heap.pop()?.key, heap.pop()], ['d', 'c', undefined]);
  t.throws(() => new SlotHeap(0), { name: 'AssertionError' });
});

t.test('MinHeap orders by its comparison', async (t) => {
  const heap = new MinHeap<number>((a, b) => a < b);
  for (const v of [5, 3, 9, 1, 7, 1]) heap.push(v);
  const out: number[] = [];
  for (let v = heap.pop(); v !== undefined; v = heap.pop()) out.push(v);
  t.strictSame(out, [1, 1, 3, 5, 7, 9]);
});
