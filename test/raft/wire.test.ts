// The peer wire format: every message type round-trips, and anything malformed is refused with a reason.
import fc from 'fast-check';
import t from 'tap';
import type { Message } from '../../src/raft/core/index.js';
import {
  decodeWire, encodeWire, forwardRequest, forwardResponse, message, messageBatch, WireDecodeError,
} from '../../src/raft/wire.js';

const head = { from: 'a', to: 'b', term: 3 };
const snapshot = { index: 7, term: 2, membership: { voters: ['a', 'b'], learners: ['c'] } };
const samples: Message[] = [
  { ...head, type: 'request_vote', preVote: true, lastLogIndex: 9, lastLogTerm: 2, transfer: false },
  { ...head, type: 'request_vote_result', preVote: false, granted: true },
  {
    ...head, type: 'append_entries', prevLogIndex: 4, prevLogTerm: 2, leaderCommit: 4, seq: 11, sentTick: 40,
    entries: [
      { type: 'normal', term: 3, index: 5, data: Uint8Array.from([1, 2, 3]) },
      { type: 'conf_change', term: 3, index: 6, change: { type: 'add_learner', nodeId: 'c', context: '127.0.0.1:7003' } },
    ],
  },
  { ...head, type: 'append_entries_result', success: false, matchIndex: 0, rejectedIndex: 4, conflictIndex: 3, conflictTerm: 1, seq: 11, sentTick: 40 },
  { ...head, type: 'heartbeat', leaderCommit: 6, seq: 12, sentTick: 42 },
  { ...head, type: 'heartbeat_result', seq: 12, sentTick: 42 },
  { ...head, type: 'install_snapshot', snapshot, offset: 0, data: Uint8Array.from([9, 9]), done: true, seq: 13, sentTick: 44 },
  { ...head, type: 'install_snapshot_result', snapshotIndex: 7, offset: 0, nextOffset: 2, installed: true, seq: 13, sentTick: 44 },
  { ...head, type: 'timeout_now' },
  { ...head, type: 'read_index', requestId: 'r1' },
  { ...head, type: 'read_index_result', requestId: 'r1', index: null },
  { ...head, type: 'read_index_result', requestId: 'r2', index: 6 },
];

t.test('every message type survives encoding and checking unchanged', async (t) => {
  for (const m of samples) t.same(message(decodeWire(encodeWire(m))), m, m.type);
});

t.test('a batch is refused when a message is from someone else or for someone else', async (t) => {
  const batch = { from: 'a', fromAddress: '127.0.0.1:7001', messages: samples };
  t.same(messageBatch(decodeWire(encodeWire(batch)), 'b').messages, samples);
  t.throws(() => messageBatch(batch, 'c'), /message for b sent to c/);
  t.throws(() => messageBatch({ ...batch, from: 'z' }, 'b'), /message from a in a batch from z/);
});

t.test('malformed fields are refused with the field named', async (t) => {
  const vote = samples[0] as Message;
  const cases: [unknown, RegExp][] = [
    [null, /message must be a map/],
    [[1, 2], /message must be a map/],
    [{ ...vote, term: -1 }, /term must be a non-negative integer/],
    [{ ...vote, term: 1.5 }, /term must be a non-negative integer/],
    [{ ...vote, term: 2 ** 60 }, /term must be a non-negative integer/],
    [{ ...vote, from: '' }, /from must not be empty/],
    [{ ...vote, to: 7 }, /to must be a string/],
    [{ ...vote, preVote: 'yes' }, /preVote must be a boolean/],
    [{ ...vote, type: 'rm -rf' }, /unknown message type/],
    [{ ...samples[2], entries: 'x' }, /entries must be a list/],
    [{ ...samples[2], entries: [{ type: 'normal', term: 1, index: 5, data: 'text' }] }, /data must be binary/],
    [{ ...samples[2], entries: [{ type: 'normal', term: 0, index: 5, data: new Uint8Array() }] }, /must be positive/],
    [{ ...samples[2], entries: [{ type: 'weird', term: 1, index: 5 }] }, /unknown entry type/],
    [{
      ...samples[2], entries: [
        { type: 'normal', term: 1, index: 5, data: new Uint8Array() },
        { type: 'normal', term: 1, index: 7, data: new Uint8Array() },
      ],
    }, /consecutive/],
    [{ ...samples[2], entries: [{ type: 'conf_change', term: 1, index: 5, change: { type: 'drop_table', nodeId: 'x', context: '' } }] },
      /unknown conf change type/],
    [{ ...samples[6], snapshot: { index: 1, term: 1, membership: { voters: 'a', learners: [] } } }, /voters must be a list/],
  ];
  for (const [value, expected] of cases) {
    let caught: unknown = null;
    try {
      message(value);
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof WireDecodeError && expected.test(caught.message), `${String(expected)}: ${String(caught)}`);
  }
});

t.test('arbitrary bytes are either a valid batch or a WireDecodeError, never anything else', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    try {
      messageBatch(decodeWire(bytes), 'b');
    } catch (err) {
      if (!(err instanceof WireDecodeError)) throw err;
    }
  }), { numRuns: 2000 });
  t.pass('2000 random bodies handled');
});

t.test('near-valid messages (one field replaced by a random value) never escape as another error', async (t) => {
  const keys = fc.constantFrom(...samples.flatMap((m) => Object.keys(m).map((k) => [m, k] as const)));
  fc.assert(fc.property(keys, fc.anything(), ([m, key], value) => {
    try {
      message({ ...m, [key]: value });
    } catch (err) {
      if (!(err instanceof WireDecodeError)) throw err;
    }
  }), { numRuns: 2000 });
  t.pass('2000 near-valid messages handled');
});

t.test('forward requests and responses round-trip and refuse unknown kinds', async (t) => {
  const requests = [
    { kind: 'propose', data: Uint8Array.from([1]) },
    { kind: 'add_node', nodeId: 'd', address: '127.0.0.1:7004' },
    { kind: 'remove_node', nodeId: 'd' },
    { kind: 'transfer', to: null },
    { kind: 'transfer', to: 'c' },
  ];
  for (const r of requests) t.same(forwardRequest(decodeWire(encodeWire(r))), r, r.kind);
  t.throws(() => forwardRequest({ kind: 'drop' }), /unknown request kind/);
  t.same(forwardResponse({ ok: true, result: { a: 1 } }), { ok: true, result: { a: 1 } });
  t.same(forwardResponse({ ok: false, code: 'no_leader', message: 'x' }), { ok: false, code: 'no_leader', message: 'x' });
  t.throws(() => forwardResponse({ ok: 'maybe' }), /ok must be a boolean/);
});
