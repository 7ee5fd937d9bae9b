// SeededRandom: mulberry32, deterministic per seed, in range and roughly uniform.
import t from 'tap';
import { SeededRandom } from '../../../src/raft/core/random.js';

/** The published mulberry32 (Tommy Ettinger), as a reference to compare against. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const draws = (r: SeededRandom, n: number, bound: number): number[] => Array.from({ length: n }, () => r.int(bound));

t.test('next follows mulberry32 exactly', async (t) => {
  for (const seed of [0, 1, 42, 123456789, 0xffffffff]) {
    const r = new SeededRandom(seed);
    const ref = mulberry32(seed);
    const got = Array.from({ length: 20 }, () => r.next());
    const want = Array.from({ length: 20 }, () => ref());
    t.same(got, want, `seed ${seed}`);
  }
});

t.test('the first draws of seed 1 are fixed', async (t) => {
  const r = new SeededRandom(1);
  t.same(draws(r, 8, 1000), [627, 2, 527, 981, 968, 281, 612, 720]);
});

t.test('a seed reproduces its sequence', async (t) => {
  t.same(draws(new SeededRandom(7), 50, 1_000_000), draws(new SeededRandom(7), 50, 1_000_000));
});

t.test('different seeds give different sequences', async (t) => {
  t.not(draws(new SeededRandom(1), 10, 1_000_000).join(), draws(new SeededRandom(2), 10, 1_000_000).join());
});

t.test('seeds are taken as unsigned 32-bit integers', async (t) => {
  t.same(draws(new SeededRandom(-1), 5, 1_000_000), draws(new SeededRandom(0xffffffff), 5, 1_000_000));
  t.same(draws(new SeededRandom(2 ** 32 + 5), 5, 1_000_000), draws(new SeededRandom(5), 5, 1_000_000));
});

t.test('next stays in [0, 1)', async (t) => {
  const r = new SeededRandom(99);
  for (let i = 0; i < 10_000; i++) {
    const x = r.next();
    if (!(x >= 0 && x < 1)) t.fail(`draw ${i} is ${x}`);
  }
  t.pass('10000 draws in range');
});

t.test('int stays in [0, bound) and reaches both ends', async (t) => {
  const r = new SeededRandom(3);
  const seen = new Set(draws(r, 2000, 10));
  t.same([...seen].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.same(draws(r, 100, 1), Array<number>(100).fill(0), 'a bound of 1 always gives 0');
});

t.test('int is roughly uniform over a few buckets', async (t) => {
  const r = new SeededRandom(2024);
  const counts = [0, 0, 0, 0];
  for (const x of draws(r, 40_000, 4)) counts[x]!++;
  for (const c of counts) t.ok(c > 9_500 && c < 10_500, `bucket holds ${c} of 40000`);
});
