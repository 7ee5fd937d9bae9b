// The peer wire format: Raft messages and forwarded requests in msgpack, checked field by field on the way in.
import { Packr } from 'msgpackr';
import type { ConfChange, Entry, Membership, Message, SnapshotMeta } from './core/index.js';

/** Raised for any body that is not exactly a well-formed peer request; the transport answers 400. */
export class WireDecodeError extends Error {
  readonly code = 'invalid_peer_message';

  constructor(message: string) {
    super(message);
    this.name = 'WireDecodeError';
  }
}

// Records off: every value is a plain self-describing map, so any version of the code can read it.
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

export function encodeWire(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decodeWire(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new WireDecodeError(`body is not msgpack: ${(err as Error).message}`);
  }
}

type Obj = Record<string, unknown>;

function fail(what: string): never {
  throw new WireDecodeError(what);
}

function obj(v: unknown, what: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) fail(`${what} must be a map`);
  return v as Obj;
}

function int(o: Obj, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${key} must be a non-negative integer`);
  return v;
}

function str(o: Obj, key: string, maxLength = 256): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length > maxLength) fail(`${key} must be a string of at most ${maxLength} characters`);
  return v;
}

function id(o: Obj, key: string): string {
  const v = str(o, key, 128);
  if (v.length === 0) fail(`${key} must not be empty`);
  return v;
}

function bool(o: Obj, key: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') fail(`${key} must be a boolean`);
  return v;
}

function bytes(o: Obj, key: string): Uint8Array {
  const v = o[key];
  if (!(v instanceof Uint8Array)) fail(`${key} must be binary`);
  return v;
}

function idList(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.length > 1000) fail(`${what} must be a list`);
  return v.map((x, i) => {
    if (typeof x !== 'string' || x.length === 0 || x.length > 128) fail(`${what}[${i}] must be a node id`);
    return x;
  });
}

function membership(v: unknown): Membership {
  const o = obj(v, 'membership');
  return { voters: idList(o['voters'], 'voters'), learners: idList(o['learners'], 'learners') };
}

export function snapshotMeta(v: unknown): SnapshotMeta {
  const o = obj(v, 'snapshot');
  return { index: int(o, 'index'), term: int(o, 'term'), membership: membership(o['membership']) };
}

const confChangeTypes = new Set(['add_learner', 'promote', 'add_voter', 'remove_node']);

function confChange(v: unknown): ConfChange {
  const o = obj(v, 'change');
  const type = str(o, 'type');
  if (!confChangeTypes.has(type)) fail(`unknown conf change type ${JSON.stringify(type)}`);
  return { type: type as ConfChange['type'], nodeId: id(o, 'nodeId'), context: str(o, 'context', 4096) };
}

function entry(v: unknown): Entry {
  const o = obj(v, 'entry');
  const type = str(o, 'type');
  const term = int(o, 'term');
  const index = int(o, 'index');
  if (index === 0 || term === 0) fail('entry index and term must be positive');
  if (type === 'normal') return { type, term, index, data: bytes(o, 'data') };
  if (type === 'conf_change') return { type, term, index, change: confChange(o['change']) };
  return fail(`unknown entry type ${JSON.stringify(type)}`);
}

function entries(v: unknown): Entry[] {
  if (!Array.isArray(v)) fail('entries must be a list');
  const out = v.map(entry);
  for (let i = 1; i < out.length; i++) {
    if (out[i]?.index !== (out[i - 1]?.index ?? 0) + 1) fail('entries must have consecutive indexes');
  }
  return out;
}

/** One Raft message, every field checked, so nothing malformed ever reaches the core. */
export function message(v: unknown): Message {
  const o = obj(v, 'message');
  const head = { from: id(o, 'from'), to: id(o, 'to'), term: int(o, 'term') };
  const type = str(o, 'type');
  switch (type) {
    case 'request_vote':
      return { ...head, type, preVote: bool(o, 'preVote'), lastLogIndex: int(o, 'lastLogIndex'),
        lastLogTerm: int(o, 'lastLogTerm'), transfer: bool(o, 'transfer') };
    case 'request_vote_result':
      return { ...head, type, preVote: bool(o, 'preVote'), granted: bool(o, 'granted') };
    case 'append_entries':
      return { ...head, type, prevLogIndex: int(o, 'prevLogIndex'), prevLogTerm: int(o, 'prevLogTerm'),
        entries: entries(o['entries']), leaderCommit: int(o, 'leaderCommit'), seq: int(o, 'seq'), sentTick: int(o, 'sentTick') };
    case 'append_entries_result':
      return { ...head, type, success: bool(o, 'success'), matchIndex: int(o, 'matchIndex'),
        rejectedIndex: int(o, 'rejectedIndex'), conflictIndex: int(o, 'conflictIndex'), conflictTerm: int(o, 'conflictTerm'),
        seq: int(o, 'seq'), sentTick: int(o, 'sentTick') };
    case 'heartbeat':
      return { ...head, type, leaderCommit: int(o, 'leaderCommit'), seq: int(o, 'seq'), sentTick: int(o, 'sentTick') };
    case 'heartbeat_result':
      return { ...head, type, seq: int(o, 'seq'), sentTick: int(o, 'sentTick') };
    case 'install_snapshot':
      return { ...head, type, snapshot: snapshotMeta(o['snapshot']), offset: int(o, 'offset'), data: bytes(o, 'data'),
        done: bool(o, 'done'), seq: int(o, 'seq'), sentTick: int(o, 'sentTick') };
    case 'install_snapshot_result':
      return { ...head, type, snapshotIndex: int(o, 'snapshotIndex'), offset: int(o, 'offset'),
        nextOffset: int(o, 'nextOffset'), installed: bool(o, 'installed'), seq: int(o, 'seq'), sentTick: int(o, 'sentTick') };
    case 'timeout_now':
      return { ...head, type };
    case 'read_index':
      return { ...head, type, requestId: str(o, 'requestId') };
    case 'read_index_result': {
      const index = o['index'] === null ? null : int(o, 'index');
      return { ...head, type, requestId: str(o, 'requestId'), index };
    }
    default:
      return fail(`unknown message type ${JSON.stringify(type)}`);
  }
}

/** The body of POST /raft/messages: one sender's batch, all addressed to the receiver. */
export interface MessageBatch {
  readonly from: string;
  /** The sender's Raft address, so a node that never heard of it (a joining learner) can answer. */
  readonly fromAddress: string;
  readonly messages: readonly Message[];
}

export function messageBatch(v: unknown, receiverId: string): MessageBatch {
  const o = obj(v, 'batch');
  const from = id(o, 'from');
  const fromAddress = str(o, 'fromAddress');
  const list = o['messages'];
  if (!Array.isArray(list) || list.length > 100_000) fail('messages must be a list');
  const messages = list.map(message);
  for (const m of messages) {
    if (m.from !== from) fail(`message from ${m.from} in a batch from ${from}`);
    if (m.to !== receiverId) fail(`message for ${m.to} sent to ${receiverId}`);
  }
  return { from, fromAddress, messages };
}

/** What a follower forwards to its leader: a proposal, a membership change or a transfer request. */
export type ForwardRequest =
  | { readonly kind: 'propose'; readonly data: Uint8Array }
  | { readonly kind: 'add_node'; readonly nodeId: string; readonly address: string }
  | { readonly kind: 'remove_node'; readonly nodeId: string }
  | { readonly kind: 'transfer'; readonly to: string | null };

export function forwardRequest(v: unknown): ForwardRequest {
  const o = obj(v, 'request');
  const kind = str(o, 'kind');
  switch (kind) {
    case 'propose':
      return { kind, data: bytes(o, 'data') };
    case 'add_node':
      return { kind, nodeId: id(o, 'nodeId'), address: str(o, 'address') };
    case 'remove_node':
      return { kind, nodeId: id(o, 'nodeId') };
    case 'transfer':
      return { kind, to: o['to'] === null ? null : id(o, 'to') };
    default:
      return fail(`unknown request kind ${JSON.stringify(kind)}`);
  }
}

/**
 * The leader's answer to a forwarded request: `ok` with the application's result, or a stable error
 * code the follower re-raises as the same error class it would have raised itself.
 */
export type ForwardResponse =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly code: string; readonly message: string };

export function forwardResponse(v: unknown): ForwardResponse {
  const o = obj(v, 'response');
  if (bool(o, 'ok')) return { ok: true, result: o['result'] };
  return { ok: false, code: str(o, 'code'), message: str(o, 'message', 4096) };
}
