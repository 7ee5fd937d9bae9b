// What members' digests say together, and which answers from a peer count as one.
import t from 'tap';
import type { MemberDigest } from '../../src/raft/state-check.js';
import { digestAnswerOf, stateCheckOf } from '../../src/raft/state-check.js';

const a = 'a'.repeat(64);
const b = 'b'.repeat(64);
const ok = (id: string, digest: string): MemberDigest => ({ id, state: 'ok', digest, records: 3 });
const none = (id: string, state: 'unknown' | 'unreachable' | 'damaged'): MemberDigest => ({ id, state, error: 'why' });

t.test('equal digests from every member are consistent; a missing answer leaves the check incomplete', async (t) => {
  t.match(stateCheckOf(7, [ok('n1', a), ok('n2', a), ok('n3', a)]), { index: 7, status: 'consistent', odd: [] });
  t.match(stateCheckOf(7, [ok('n1', a), ok('n2', a), none('n3', 'unreachable')]), { status: 'incomplete', odd: [] });
  t.match(stateCheckOf(7, [ok('n1', a)]), { status: 'consistent' }, 'a single node agrees with itself');
});

t.test('two digests diverge; the members off the majority digest are the odd ones', async (t) => {
  t.match(stateCheckOf(7, [ok('n1', a), ok('n2', b), ok('n3', a)]), { status: 'diverged', odd: ['n2'] });
  t.match(stateCheckOf(7, [ok('n1', a), ok('n2', a), ok('n3', a), ok('n4', b), none('n5', 'damaged')]), { status: 'diverged', odd: ['n4'] });
  t.match(stateCheckOf(7, [ok('n1', a), ok('n2', b), none('n3', 'unknown')]), { status: 'diverged', odd: [] },
    'no digest held by a majority: nobody can be named');
  t.match(stateCheckOf(7, [ok('n1', a), ok('n2', a), ok('n3', b), ok('n4', b)]), { status: 'diverged', odd: [] }, 'two against two');
});

t.test("a peer's answer is a digest only when it is well-formed", async (t) => {
  t.strictSame(digestAnswerOf({ state: 'ok', digest: a, records: 0 }), { state: 'ok', digest: a, records: 0 });
  t.strictSame(digestAnswerOf({ state: 'damaged', error: 'x' }), { state: 'damaged', error: 'x' });
  t.strictSame(digestAnswerOf({ state: 'unknown', error: 'y' }), { state: 'unknown', error: 'y' });
  for (const bad of [null, 'ok', [], { state: 'ok', digest: 'XYZ', records: 1 }, { state: 'ok', digest: a, records: -1 },
    { state: 'ok', digest: a, records: 1.5 }, { state: 'ok', digest: a }, { state: 'unknown' }, { state: 'unreachable', error: 'z' },
    { state: 'fine', error: 'z' }]) {
    t.equal(digestAnswerOf(bad), null, JSON.stringify(bad));
  }
});
