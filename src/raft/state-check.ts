// Members' digests of their state at one log index, and what they say together: every member applied the same
// entries up to that index, so every digest must be equal (etcd's corruption check compares HashKV the same way).
import type { NodeId } from './core/index.js';

/** What a state machine answers for its state at an index it applied a check at. */
export interface StateDigestOf {
  readonly digest: string;
  readonly records: number;
}

/** One member's answer: its digest, or why there is none. */
export type DigestAnswer =
  | { readonly state: 'ok'; readonly digest: string; readonly records: number }
  /** It did not apply the check (behind, restored a snapshot past it, restarted since) or is still digesting. */
  | { readonly state: 'unknown'; readonly error: string }
  /** Its store holds a record that does not decode: it stops. */
  | { readonly state: 'damaged'; readonly error: string }
  /** No answer came over the network. */
  | { readonly state: 'unreachable'; readonly error: string };

export type MemberDigest = DigestAnswer & { readonly id: NodeId };

export interface StateCheck {
  readonly index: number;
  /** `diverged` as soon as two members differ; `incomplete` when the ones that answered agree but not all did. */
  readonly status: 'consistent' | 'diverged' | 'incomplete';
  /** Members whose digest differs from the one a majority of all members hold: the ones to rebuild. */
  readonly odd: readonly NodeId[];
  readonly members: readonly MemberDigest[];
}

export function stateCheckOf(index: number, members: readonly MemberDigest[]): StateCheck {
  const holders = new Map<string, NodeId[]>();
  for (const m of members) if (m.state === 'ok') holders.set(m.digest, [...holders.get(m.digest) ?? [], m.id]);
  if (holders.size > 1) {
    const majority = [...holders].find(([, ids]) => ids.length * 2 > members.length)?.[0] ?? null;
    const odd = majority === null ? [] : members.filter((m) => m.state === 'ok' && m.digest !== majority).map((m) => m.id);
    return { index, status: 'diverged', odd, members };
  }
  const answered = members.every((m) => m.state === 'ok');
  return { index, status: answered ? 'consistent' : 'incomplete', odd: [], members };
}

/** A peer's answer as it came over the wire, checked; anything else is a broken peer, not a digest. */
export function digestAnswerOf(value: unknown): DigestAnswer | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v['state'] === 'ok') {
    const { digest, records } = v;
    if (typeof digest !== 'string' || !/^[0-9a-f]{16,128}$/.test(digest)) return null;
    if (typeof records !== 'number' || !Number.isSafeInteger(records) || records < 0) return null;
    return { state: 'ok', digest, records };
  }
  if ((v['state'] === 'unknown' || v['state'] === 'damaged') && typeof v['error'] === 'string') {
    return { state: v['state'], error: v['error'] };
  }
  return null;
}
