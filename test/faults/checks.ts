// The verdicts of a fault run, each a pure function of what the run recorded, so each can be shown to fail on a
// small synthetic history (checks.test.ts) before it is trusted to pass on a real one.
import type { ExitRecord } from './fault-cluster.js';
import type { ExecutionSummary, FireJob, FireReceipt, OpRecord } from './history.js';
import {
  checkLinearizable, explainIllegal, type JobInput, type JobOutput, type JobVersion, jobRegisterModel, type Model, type Operation,
} from './linearizability.js';
import type { HealthSample } from './observer.js';

export const checkNames = ['final-state', 'convergence', 'linearizable', 'fires', 'leader-only', 'crashes'] as const;
export type CheckName = typeof checkNames[number];

export interface Violation {
  readonly check: CheckName;
  readonly message: string;
}

const isWrite = (op: OpRecord): boolean => op.f !== 'read';
const writesValue = (op: OpRecord): boolean => op.f === 'create' || op.f === 'patch';
/** An acknowledged write that changed the job's version or presence. */
const overrides = (op: OpRecord): boolean => op.outcome === 'ok' && (writesValue(op) || op.f === 'delete');
/** A write that may have taken effect: acknowledged, or its fate unknown. */
const mayHaveApplied = (op: OpRecord): boolean => op.outcome !== 'fail';
const retOf = (op: OpRecord): number => (op.outcome === 'unknown' ? Infinity : op.ret);

function byKey(ops: readonly OpRecord[]): Map<string, OpRecord[]> {
  const out = new Map<string, OpRecord[]>();
  for (const op of ops) out.set(op.key, [...(out.get(op.key) ?? []), op]);
  return out;
}

export function describeOp(op: OpRecord): string {
  const what = op.f === 'read' ? `read${op.outcome === 'ok' ? ` -> ${op.value ?? 'absent'}` : ''}` : `${op.f}${op.v === null ? '' : ` ${op.v}`}`;
  return `client ${op.client} via ${op.via} [${Math.round(op.call)}, ${op.outcome === 'unknown' ? '?' : Math.round(op.ret)}] ${what}: ${op.outcome}`
    + ` (${op.status ?? '-'} ${op.detail})`;
}

// ---------------------------------------------------------------------------------------------------------------
// 1. No acknowledged write lost, no phantom: the final version of each job is one its history allows.

/**
 * Whether `final` (a version, or null for absent) can be the last state of a job given its operations. A version
 * needs a create or patch that wrote it and may have applied, with no acknowledged write starting after that one
 * ended (which would have to come later, and so be the last). Absent needs the initial state or a delete that may
 * have applied, with no acknowledged create or patch starting after it ended.
 */
export function finalStateAllowed(ops: readonly OpRecord[], final: JobVersion): { ok: true } | { ok: false; why: string } {
  if (final !== null) {
    const writer = ops.find((op) => writesValue(op) && op.v === final && mayHaveApplied(op));
    if (writer === undefined) {
      const refused = ops.find((op) => op.v === final);
      return { ok: false, why: refused === undefined ? `phantom: no operation wrote ${final}` : `phantom: ${final} was refused: ${describeOp(refused)}` };
    }
    const later = ops.find((op) => op !== writer && overrides(op) && op.call > retOf(writer));
    return later === undefined ? { ok: true }
      : { ok: false, why: `lost write: ${describeOp(later)} started after ${describeOp(writer)} ended, yet the final version is ${final}` };
  }
  const sources = [-Infinity, ...ops.filter((op) => op.f === 'delete' && mayHaveApplied(op)).map(retOf)];
  const blockers = ops.filter((op) => writesValue(op) && op.outcome === 'ok');
  if (sources.some((endMs) => !blockers.some((op) => op.call > endMs))) return { ok: true };
  const last = blockers.reduce((a, b) => (b.call > a.call ? b : a));
  return { ok: false, why: `lost write: the job is absent, but ${describeOp(last)} started after every delete ended` };
}

/** `finals`: per job, per node, the version a local read found (null: 404; undefined: the node did not answer). */
export function checkFinalStates(ops: readonly OpRecord[], finals: ReadonlyMap<string, ReadonlyMap<string, JobVersion | undefined>>): Violation[] {
  const violations: Violation[] = [];
  const grouped = byKey(ops);
  for (const [key, perNode] of finals) {
    const seen = new Set<JobVersion>();
    for (const [node, value] of perNode) {
      if (value === undefined) violations.push({ check: 'final-state', message: `${key}: ${node} did not answer the final read` });
      else seen.add(value);
    }
    if (seen.size > 1) {
      violations.push({ check: 'final-state', message: `${key}: nodes disagree: ${[...perNode].map(([n, v]) => `${n}=${v ?? 'absent'}`).join(' ')}` });
    }
    for (const value of seen) {
      const verdict = finalStateAllowed(grouped.get(key) ?? [], value);
      if (!verdict.ok) violations.push({ check: 'final-state', message: `${key}: final ${value ?? 'absent'}: ${verdict.why}` });
    }
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Convergence: every node applied the same index and lists the same jobs.

/** Object keys sorted, so that two equal jobs print equal whatever order their fields came in. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

export function checkConvergence(
  applied: ReadonlyMap<string, number | undefined>,
  jobLists: ReadonlyMap<string, readonly { readonly id: string }[] | undefined>,
): Violation[] {
  const violations: Violation[] = [];
  const indexes = new Set(applied.values());
  if (indexes.size !== 1 || indexes.has(undefined)) {
    violations.push({ check: 'convergence', message: `applied indexes differ: ${[...applied].map(([n, i]) => `${n}=${i ?? '?'}`).join(' ')}` });
  }
  const lists = [...jobLists];
  const first = lists[0];
  if (first === undefined) return violations;
  const index = (jobs: readonly { readonly id: string }[]): Map<string, string> => new Map(jobs.map((j) => [j.id, canonical(j)]));
  const [firstNode, firstJobs] = first;
  if (firstJobs === undefined) {
    violations.push({ check: 'convergence', message: `${firstNode} did not list its jobs` });
    return violations;
  }
  const reference = index(firstJobs);
  for (const [node, jobs] of lists.slice(1)) {
    if (jobs === undefined) {
      violations.push({ check: 'convergence', message: `${node} did not list its jobs` });
      continue;
    }
    const other = index(jobs);
    const ids = new Set([...reference.keys(), ...other.keys()]);
    const differing = [...ids].filter((id) => reference.get(id) !== other.get(id));
    if (differing.length > 0) {
      const sample = differing.slice(0, 3).map((id) => `${id}: ${firstNode}=${reference.get(id) ?? 'absent'} ${node}=${other.get(id) ?? 'absent'}`);
      violations.push({ check: 'convergence', message: `${node} and ${firstNode} differ on ${differing.length} jobs, e.g. ${sample.join('; ')}` });
    }
  }
  return violations;
}

/** The cluster's own state check once quiet (`POST /cluster/check-state`): every member's whole store, digested. */
export function checkStateDigests(answer: { readonly status?: unknown; readonly members?: unknown } | string): Violation[] {
  if (typeof answer === 'string') return [{ check: 'convergence', message: `the state check did not run: ${answer}` }];
  if (answer.status === 'consistent') return [];
  return [{ check: 'convergence', message: `the state check found the members ${String(answer.status)}: ${JSON.stringify(answer.members)}` }];
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Strong reads (and every write) linearizable, job by job.

/** Pause and resume need the job to exist and change nothing the register holds. */
export type FaultJobInput = JobInput | { readonly f: 'touch'; readonly what: 'pause' | 'resume' };

export const faultJobModel: Model<JobVersion, FaultJobInput, JobOutput> = {
  init: () => jobRegisterModel.init(),
  key: (state) => jobRegisterModel.key(state),
  describe: (input, output) => `${JSON.stringify(input)} => ${output === undefined ? 'unknown' : JSON.stringify(output)}`,
  step(state, input, output) {
    if (input.f !== 'touch') return jobRegisterModel.step(state, input, output);
    if (output === undefined) return { ok: true, state };
    if (!('ok' in output)) return { ok: false, state };
    return { ok: output.ok ? state !== null : state === null && output.reason === 'not_found', state };
  },
};

/**
 * The operations the model can judge: unknown writes stay open forever; failed reads and writes that were simply
 * not applied (503 no_leader, refused connection) constrain nothing and are left out.
 */
export function toLinearizabilityOps(ops: readonly OpRecord[]): Operation<FaultJobInput, JobOutput>[] {
  const out: Operation<FaultJobInput, JobOutput>[] = [];
  for (const op of ops) {
    if (op.outcome === 'fail' && (op.reason === 'not_applied' || op.reason === 'invalid')) continue;
    if (op.f === 'read' && op.outcome !== 'ok') continue;
    const input: FaultJobInput = op.f === 'read' ? { f: 'read' }
      : op.f === 'delete' ? { f: 'delete' }
        : op.f === 'pause' || op.f === 'resume' ? { f: 'touch', what: op.f }
          : { f: op.f, v: op.v ?? '' };
    let output: JobOutput | undefined;
    if (op.outcome === 'unknown') output = undefined;
    else if (op.f === 'read') output = { value: op.value ?? null };
    else if (op.outcome === 'ok') output = { ok: true };
    else output = { ok: false, reason: op.reason === 'exists' ? 'exists' : 'not_found' };
    out.push({ client: op.client, input, output, call: op.call, ret: op.outcome === 'unknown' ? Infinity : op.ret });
  }
  return out;
}

export interface LinearizabilityReport {
  readonly violations: Violation[];
  readonly keysChecked: number;
  /** Keys whose search gave up: neither passed nor failed. */
  readonly inconclusive: string[];
}

export function checkLinearizability(ops: readonly OpRecord[], timeoutMs: number): LinearizabilityReport {
  const violations: Violation[] = [];
  const inconclusive: string[] = [];
  let keysChecked = 0;
  for (const [key, keyOps] of byKey(ops)) {
    const history = toLinearizabilityOps(keyOps);
    const verdict = checkLinearizable(faultJobModel, history, { timeoutMs });
    keysChecked++;
    if (verdict.result === 'timeout') inconclusive.push(key);
    if (verdict.result === 'illegal') {
      const explained = explainIllegal(faultJobModel, history, verdict).split('\n');
      const tail = explained.length > 12 ? ['...', ...explained.slice(-11)] : explained;
      violations.push({ check: 'linearizable', message: `${key}: not linearizable (${history.length} operations)\n    ${tail.join('\n    ')}` });
    }
  }
  for (const op of ops) {
    if (op.reason === 'invalid') violations.push({ check: 'linearizable', message: `${op.key}: a valid request refused as invalid: ${describeOp(op)}` });
  }
  return { violations, keysChecked, inconclusive };
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Fires: none lost, no at_most_once fire twice, none early, none after a delete, none unscheduled.

export interface FireCheckOptions {
  /** Receipts recorded up to here; recurring fires after `untilMs - endMarginMs` are not required. */
  readonly untilMs: number;
  /** A fire due this close to a delete (or to the end) may be legitimately unsent: it can be late after a fault. */
  readonly endMarginMs: number;
  /** In-flight time of a request sent just before a delete applied. */
  readonly slackMs: number;
  /** Timer jitter: a fire this much before its time is not early. */
  readonly earlyMs: number;
}

export interface FireStats {
  fires: number;
  lost: number;
  amoDups: number;
  /** at_least_once fires received more than once (allowed; counted). */
  dups: number;
  /** at_most_once fires never received and recorded unknown (allowed). */
  unknown: number;
}

/** The scheduled times of a job between `fromMs` (exclusive) and `toMs` (inclusive). */
export function scheduledBetween(job: FireJob, fromMs: number, toMs: number): number[] {
  const s = job.schedule;
  if (s.kind === 'unico') return s.atMs > fromMs && s.atMs <= toMs ? [s.atMs] : [];
  const step = s.kind === 'every_second' ? 1000 : s.everyMs;
  const origin = s.kind === 'every_second' ? 0 : s.atMs;
  const out: number[] = [];
  const first = Math.max(origin, origin + Math.floor((fromMs - origin) / step + 1) * step);
  for (let at = first; at <= toMs; at += step) out.push(at);
  return out;
}

function onSchedule(job: FireJob, atMs: number): boolean {
  const s = job.schedule;
  if (s.kind === 'unico') return atMs === s.atMs;
  if (s.kind === 'every_second') return atMs % 1000 === 0;
  return atMs >= s.atMs && (atMs - s.atMs) % s.everyMs === 0;
}

export function checkFires(
  jobs: readonly FireJob[],
  receipts: readonly FireReceipt[],
  executions: ReadonlyMap<string, readonly ExecutionSummary[]>,
  options: FireCheckOptions,
): { violations: Violation[]; stats: FireStats } {
  const violations: Violation[] = [];
  const stats: FireStats = { fires: receipts.length, lost: 0, amoDups: 0, dups: 0, unknown: 0 };
  const known = new Set(jobs.map((j) => j.id));
  for (const r of receipts) {
    if (!known.has(r.jobId)) violations.push({ check: 'fires', message: `a fire of unknown job ${r.jobId} (${r.fireId})` });
  }
  for (const job of jobs) {
    const hits = new Map<string, FireReceipt[]>();
    for (const r of receipts) if (r.jobId === job.id) hits.set(r.fireId, [...(hits.get(r.fireId) ?? []), r]);
    // Deleted from the first delete that may have applied; surely gone once one was acknowledged.
    const goneFrom = Math.min(...job.deletes.filter((d) => d.outcome !== 'fail').map((d) => d.call));
    const goneBy = Math.min(...job.deletes.filter((d) => d.outcome === 'ok' || d.reason === 'not_found').map((d) => d.ret));
    for (const [fireId, copies] of hits) {
      const atMs = Number(fireId.slice(fireId.lastIndexOf('@') + 1));
      if (!fireId.startsWith(`${job.id}@`) || !onSchedule(job, atMs)) {
        violations.push({ check: 'fires', message: `${job.id}: fire ${fireId} is not on its schedule` });
        continue;
      }
      if (copies.length > 1) {
        if (job.delivery === 'at_most_once') {
          stats.amoDups++;
          violations.push({ check: 'fires', message: `${job.id}: at_most_once fire ${fireId} received ${copies.length} times: ${copies.map(receiptText).join(', ')}` });
        } else {
          stats.dups += copies.length - 1;
        }
      }
      const first = copies.reduce((a, b) => (b.atMs < a.atMs ? b : a));
      if (first.atMs < atMs - options.earlyMs) {
        violations.push({ check: 'fires', message: `${job.id}: fire ${fireId} received ${Math.round(atMs - first.atMs)} ms early` });
      }
      for (const copy of copies.filter((c) => c.atMs > goneBy + options.slackMs)) {
        violations.push({ check: 'fires', message: `${job.id}: fire ${fireId} received ${Math.round(copy.atMs - goneBy)} ms after its delete was acknowledged (${receiptText(copy)})` });
      }
    }
    const horizon = Math.min(options.untilMs, goneFrom) - options.endMarginMs;
    for (const atMs of scheduledBetween(job, job.createdAtMs, horizon)) {
      const fireId = `${job.id}@${atMs}`;
      if (hits.has(fireId)) continue;
      if (job.delivery === 'at_most_once') {
        const statuses = (executions.get(job.id) ?? []).filter((e) => e.fire_id === fireId).map((e) => e.status);
        if (statuses.includes('unknown')) {
          stats.unknown++;
          continue;
        }
        stats.lost++;
        violations.push({ check: 'fires', message: `${job.id}: at_most_once fire ${fireId} never received and not recorded unknown (executions: ${statuses.join(',') || 'none'})` });
      } else {
        stats.lost++;
        violations.push({ check: 'fires', message: `${job.id}: at_least_once fire ${fireId} lost` });
      }
    }
  }
  return { violations, stats };
}

function receiptText(r: FireReceipt): string {
  return `at ${Math.round(r.atMs)} attempt ${r.attempt} from ${r.node ?? '?'} term ${r.term ?? '?'}`;
}

// ---------------------------------------------------------------------------------------------------------------
// 5. Only the leader fires: no fire of term T arrives after another node was seen leading a later term.

interface Claim {
  readonly term: number;
  readonly node: string;
  readonly atMs: number;
  readonly source: string;
}

export function leadershipClaims(health: readonly HealthSample[], receipts: readonly FireReceipt[]): Claim[] {
  const claims: Claim[] = [];
  for (const s of health) {
    if (s.role === 'leader') claims.push({ term: s.term, node: s.node, atMs: s.atMs, source: `${s.node}'s /health` });
    else if (s.leader !== null) claims.push({ term: s.term, node: s.leader, atMs: s.atMs, source: `${s.node}'s /health` });
  }
  for (const r of receipts) {
    if (r.node !== null && r.term !== null) claims.push({ term: r.term, node: r.node, atMs: r.atMs, source: `fire ${r.fireId}` });
  }
  return claims;
}

export function checkLeaderOnly(health: readonly HealthSample[], receipts: readonly FireReceipt[], slackMs: number): Violation[] {
  const violations: Violation[] = [];
  const claims = leadershipClaims(health, receipts);
  const leaderOf = new Map<number, Claim>();
  for (const c of [...claims].sort((a, b) => a.atMs - b.atMs)) {
    const first = leaderOf.get(c.term);
    if (first === undefined) leaderOf.set(c.term, c);
    else if (first.node !== c.node) {
      violations.push({ check: 'leader-only', message: `term ${c.term} led by ${first.node} (${first.source} at ${Math.round(first.atMs)}) and by ${c.node} (${c.source} at ${Math.round(c.atMs)})` });
    }
  }
  for (const r of receipts) {
    if (r.node === null || r.term === null) {
      violations.push({ check: 'leader-only', message: `fire ${r.fireId} does not name its node and term in its User-Agent` });
      continue;
    }
    let deposedAt: Claim | null = null;
    for (const c of claims) {
      if (c.term > (r.term) && c.node !== r.node && (deposedAt === null || c.atMs < deposedAt.atMs)) deposedAt = c;
    }
    if (deposedAt !== null && r.atMs > deposedAt.atMs + slackMs) {
      violations.push({ check: 'leader-only', message: `fire ${r.fireId} from ${r.node} (term ${r.term}) received at ${Math.round(r.atMs)}, `
        + `${Math.round(r.atMs - deposedAt.atMs)} ms after ${deposedAt.node} was seen leading term ${deposedAt.term} (${deposedAt.source})` });
    }
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------------------------
// 6. Crashes: an exit nobody asked for, or a node log that says something went badly wrong.

const alarming = [/uncaught/i, /unhandled/i, /\bFATAL\b/, /"level":60/, /AssertionError/, /invariant broken/i];

export function checkCrashes(exits: readonly ExitRecord[], logs: ReadonlyMap<string, string>): Violation[] {
  const violations: Violation[] = exits.filter((e) => !e.expected).map((e) => ({
    check: 'crashes' as const, message: `${e.id} (pid ${e.pid}) ${e.note === undefined ? 'exited by itself' : e.note} at ${Math.round(e.atMs)} (${e.signal ?? `code ${e.code}`})`,
  }));
  for (const [node, log] of logs) {
    const lines = log.split('\n').filter((line) => alarming.some((re) => re.test(line)));
    for (const line of lines.slice(0, 3)) violations.push({ check: 'crashes', message: `${node} log: ${line.slice(0, 400)}` });
    if (lines.length > 3) violations.push({ check: 'crashes', message: `${node} log: ${lines.length - 3} more alarming lines` });
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------------------------
// Figures for the report.

export function opCounts(ops: readonly OpRecord[]): { ok: number; fail: number; unknown: number } {
  return {
    ok: ops.filter((o) => o.outcome === 'ok').length,
    fail: ops.filter((o) => o.outcome === 'fail').length,
    unknown: ops.filter((o) => o.outcome === 'unknown').length,
  };
}

/** The longest stretch between `fromMs` and `toMs` in which no write was acknowledged. */
export function maxUnavailabilityMs(ops: readonly OpRecord[], fromMs: number, toMs: number): number {
  const acks = ops.filter((o) => isWrite(o) && o.outcome === 'ok' && o.ret >= fromMs && o.ret <= toMs).map((o) => o.ret).sort((a, b) => a - b);
  let longest = 0;
  let last = fromMs;
  for (const at of [...acks, toMs]) {
    longest = Math.max(longest, at - last);
    last = at;
  }
  return Math.round(longest);
}
