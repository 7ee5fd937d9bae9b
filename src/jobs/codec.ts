// Commands to bytes and back: MessagePack, self-describing (no shared record structures), checked whole on decode.
//
// A create's jobs are rows (format 2): each job an array of its spec's fields in `specRowFields` order, the retry
// policy an array in `retryRowFields` order, then the request hash. As maps, the field names were nearly half of
// every create (708 bytes a job with a 200-byte payload, 398 as a row), and packing and unpacking 30 named keys a
// job was the largest part of a batch's CPU on every node (rows pack 2.5 and unpack 3 times faster, measured). The
// hash stays hex text: as 32 bytes it saved 33 more, but turning them back into text cost more than the unpacking.
// Creates written as maps (`jobs`, before format 2) still decode. A new field goes at the end of a row.
import assert from 'node:assert/strict';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Packr } from 'msgpackr';
import type { Command, CommandType, CreateJobsCommand, NewJobEntry, UpdateJobCommand } from './commands.js';
import type { JobSpec, RetryPolicy } from './job.js';
import { jsonProblem } from './json.js';
import { fireResults } from './fire.js';
import {
  catchupPolicies, deliveryModes, jobIdPattern, jobTypes, overlapPolicies, webhookMethods,
} from './schema.js';

/** A log entry that is not a command this version knows: a broken invariant for whoever applies it. */
export class CommandDecodeError extends Error {
  readonly code = 'corrupt_command';

  constructor(message: string) {
    super(message);
    this.name = 'CommandDecodeError';
  }
}

// Maps as plain objects, no records (each map names its keys), 64-bit integers as numbers: the bytes read the
// same to any MessagePack reader and to any later version of this one.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });

const SafeInteger = (minimum = 0) => Type.Integer({ minimum, maximum: Number.MAX_SAFE_INTEGER });
const literals = <const T extends readonly string[]>(values: T) => Type.Union(values.map((v: T[number]) => Type.Literal(v)));
const strict = { additionalProperties: false } as const;


const RetryShape = Type.Object({
  maxAttempts: SafeInteger(1),
  backoffMs: SafeInteger(),
  maxBackoffMs: SafeInteger(),
  maxDurationMs: Type.Union([SafeInteger(1), Type.Null()]),
  nonRetryableStatuses: Type.Array(SafeInteger()),
}, strict);

const JobSpecShape = Type.Object({
  id: Type.String({ pattern: jobIdPattern }),
  type: literals(jobTypes),
  startAtMs: SafeInteger(),
  cronExpression: Type.Union([Type.String(), Type.Null()]),
  intervalMs: Type.Union([SafeInteger(1), Type.Null()]),
  timezone: Type.String({ minLength: 1 }),
  lastDateAtMs: Type.Union([SafeInteger(), Type.Null()]),
  webhookUrl: Type.Union([Type.String(), Type.Null()]),
  method: literals(webhookMethods),
  headers: Type.Record(Type.String(), Type.String()),
  payload: Type.Unknown(),
  delivery: literals(deliveryModes),
  retry: RetryShape,
  timeoutMs: SafeInteger(1),
  catchup: literals(catchupPolicies),
  catchupWindowMs: SafeInteger(),
  overlap: literals(overlapPolicies),
  maxRuns: Type.Union([SafeInteger(1), Type.Null()]),
  jitterMs: SafeInteger(),
  pauseAfterFailures: SafeInteger(),
  signingSecret: Type.Union([Type.String(), Type.Null()]),
  paused: Type.Boolean(),
  tags: Type.Record(Type.String(), Type.String()),
}, strict);

/** The fields of a create row, in order; the type below makes a JobSpec field missing here a compile error. */
const specRowFields = [
  'id', 'type', 'startAtMs', 'cronExpression', 'intervalMs', 'timezone', 'lastDateAtMs', 'webhookUrl', 'method',
  'headers', 'payload', 'delivery', 'retry', 'timeoutMs', 'catchup', 'catchupWindowMs', 'overlap', 'maxRuns',
  'jitterMs', 'pauseAfterFailures', 'signingSecret', 'paused', 'tags',
] as const satisfies readonly (keyof JobSpec)[];
const retryRowFields = [
  'maxAttempts', 'backoffMs', 'maxBackoffMs', 'maxDurationMs', 'nonRetryableStatuses',
] as const satisfies readonly (keyof RetryPolicy)[];
const _rowNamesEverySpecField: [Exclude<keyof JobSpec, (typeof specRowFields)[number]>] extends [never] ? true : false = true;
const _rowNamesEveryRetryField: [Exclude<keyof RetryPolicy, (typeof retryRowFields)[number]>] extends [never] ? true : false = true;
const payloadColumn = specRowFields.indexOf('payload');
const retryColumn = specRowFields.indexOf('retry');
const requestHashPattern = '^[0-9a-f]{64}$';

/** A row admits exactly what JobSpecShape admits, field for field: its columns are that schema's own. */
const CreateRowShape = Type.Tuple([
  ...specRowFields.map((field) => (field === 'retry'
    ? Type.Tuple(retryRowFields.map((r) => RetryShape.properties[r]))
    : JobSpecShape.properties[field])),
  Type.String({ pattern: requestHashPattern }),
]);
type CreateRow = unknown[];

const stamp = { proposedAtMs: SafeInteger(), tenant: Type.String({ minLength: 1 }) };
const JobId = Type.String({ pattern: jobIdPattern });
const fireRef = { tenant: Type.String({ minLength: 1 }), jobId: JobId, scheduledAtMs: SafeInteger() };
const jobIdCommand = <T extends CommandType>(type: T) => Type.Object({ type: Type.Literal(type), ...stamp, id: JobId }, strict);

/** One schema per command type; the mapped type makes a new command without a schema a compile error. */
const commandShapes: { readonly [K in CommandType]: TSchema } = {
  create_jobs: Type.Object({
    type: Type.Literal('create_jobs'),
    ...stamp,
    jobs: Type.Array(Type.Object({ spec: JobSpecShape, requestHash: Type.String({ pattern: requestHashPattern }) }, strict)),
    maxJobs: SafeInteger(),
  }, strict),
  update_job: Type.Object({
    type: Type.Literal('update_job'), ...stamp, id: JobId, patch: Type.Record(Type.String(), Type.Unknown()),
    maxPayloadBytes: SafeInteger(1), denyPrivateWebhooks: Type.Boolean(),
  }, strict),
  delete_job: jobIdCommand('delete_job'),
  pause_job: jobIdCommand('pause_job'),
  resume_job: jobIdCommand('resume_job'),
  cancel_job: jobIdCommand('cancel_job'),
  trigger_job: jobIdCommand('trigger_job'),
  redrive_fire: Type.Object({ type: Type.Literal('redrive_fire'), ...stamp, fireId: Type.String({ minLength: 3, maxLength: 160 }) }, strict),
  set_firing: Type.Object({ type: Type.Literal('set_firing'), ...stamp, paused: Type.Boolean() }, strict),
  check_state: Type.Object({ type: Type.Literal('check_state'), proposedAtMs: SafeInteger() }, strict),
  fire_events: Type.Object({
    type: Type.Literal('fire_events'),
    proposedAtMs: SafeInteger(),
    nodeId: Type.String({ minLength: 1 }),
    events: Type.Array(Type.Union([
      Type.Object({ kind: Type.Literal('start'), ...fireRef, manual: Type.Boolean() }, strict),
      Type.Object({
        kind: Type.Literal('pass'), ...fireRef, untilMs: SafeInteger(), count: SafeInteger(1),
        result: literals(['skipped', 'missed'] as const),
      }, strict),
      Type.Object({
        kind: Type.Literal('attempt'), ...fireRef, attempt: SafeInteger(1), startedAtMs: SafeInteger(),
        finishedAtMs: SafeInteger(), succeeded: Type.Boolean(), httpStatus: Type.Union([SafeInteger(), Type.Null()]),
        error: Type.Union([Type.String(), Type.Null()]),
      }, strict),
      Type.Object({
        kind: Type.Literal('finish'), ...fireRef, result: literals(fireResults), attempts: SafeInteger(),
        error: Type.Union([Type.String(), Type.Null()]), requeue: Type.Optional(Type.Literal(true)),
      }, strict),
    ])),
    executionsPerJob: SafeInteger(1),
  }, strict),
};

const commandChecks = new Map(Object.entries(commandShapes).map(([type, shape]) => [type, TypeCompiler.Compile(shape)]));

/** `create_jobs` as written since format 2: `rows` where the maps had `jobs`. */
const createRowsCheck = TypeCompiler.Compile(Type.Object({
  type: Type.Literal('create_jobs'), ...stamp, rows: Type.Array(CreateRowShape), maxJobs: SafeInteger(),
}, strict));

/** A create as the log holds it. */
interface CreateRowsWire {
  readonly type: 'create_jobs';
  readonly proposedAtMs: number;
  readonly tenant: string;
  readonly rows: readonly CreateRow[];
  readonly maxJobs: number;
}

function rowOf({ spec, requestHash }: NewJobEntry): CreateRow {
  const row: unknown[] = new Array(specRowFields.length + 1);
  for (let i = 0; i < specRowFields.length; i++) row[i] = spec[specRowFields[i]!];
  const retry = spec.retry;
  row[retryColumn] = retryRowFields.map((field) => retry[field]);
  row[specRowFields.length] = requestHash;
  return row;
}

function entryOf(row: CreateRow): NewJobEntry {
  const spec: Record<string, unknown> = {};
  for (let i = 0; i < specRowFields.length; i++) spec[specRowFields[i]!] = row[i];
  const retryRow = row[retryColumn] as unknown[];
  const retry: Record<string, unknown> = {};
  for (let i = 0; i < retryRowFields.length; i++) retry[retryRowFields[i]!] = retryRow[i];
  spec['retry'] = retry;
  return { spec: spec as unknown as JobSpec, requestHash: row[specRowFields.length] as string };
}

function wireOf(command: Command): Command | CreateRowsWire {
  if (command.type !== 'create_jobs') return command;
  const { type, proposedAtMs, tenant, jobs, maxJobs } = command;
  return { type, proposedAtMs, tenant, rows: jobs.map(rowOf), maxJobs };
}

function commandOf(wire: Command | CreateRowsWire): Command {
  if (!('rows' in wire)) return wire;
  const { type, proposedAtMs, tenant, rows, maxJobs } = wire;
  return { type, proposedAtMs, tenant, jobs: rows.map(entryOf), maxJobs };
}

/** What the schema admits is a JobSpec, and it names every JobSpec field: checked when compiling. */
type Admits<Shape, T> = [Shape] extends [T] ? ([keyof T] extends [keyof Shape] ? true : false) : false;
const _specShapeMatches: Admits<Static<typeof JobSpecShape>, JobSpec> = true;

/** Why `value` is not a well-formed command, or null when it is one. */
function commandProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return 'not a map';
  const type = (value as { type?: unknown }).type;
  const rows = type === 'create_jobs' && Object.hasOwn(value, 'rows');
  const check = rows ? createRowsCheck : typeof type === 'string' ? commandChecks.get(type) : undefined;
  if (check === undefined) return `unknown command type ${JSON.stringify(type) ?? 'undefined'}`;
  const typeName = type as CommandType;
  // Check is compiled and cheap; Errors walks the value again, so it runs only to explain a refusal.
  if (!check.Check(value)) {
    const error = check.Errors(value).First();
    return `${typeName}: ${error?.path || '/'} ${error?.message ?? 'does not match its schema'}`;
  }
  const payloads = rows ? (value as CreateRowsWire).rows.map((row) => row[payloadColumn])
    : type === 'create_jobs' ? (value as CreateJobsCommand).jobs.map((j) => j.spec.payload)
    : type === 'update_job' ? [(value as UpdateJobCommand).patch] : [];
  for (const [i, payload] of payloads.entries()) {
    const problem = jsonProblem(payload);
    if (problem !== null) return `${typeName}: ${type === 'update_job' ? 'patch' : `spec ${i} payload`}: ${problem}`;
  }
  return null;
}

/**
 * The command's bytes. A command that would not decode is refused here, on the leader, before it can reach the
 * log: once committed, every node would have to apply it.
 */
export function encodeCommand(command: Command): Uint8Array {
  const wire = wireOf(command);
  const problem = commandProblem(wire);
  assert.equal(problem, null, `refusing to encode an invalid command: ${problem ?? ''}`);
  // A copy of exactly its size: msgpackr answers a view into its working buffer, which it grows to four times a
  // large command, and the Raft log keeps entries in memory until the next snapshot, so views would keep every
  // such buffer alive (the leader held 570 MB of them at 200,000 batch-created jobs, measured).
  return new Uint8Array(packr.pack(wire));
}

/** The command in `bytes`, checked whole; anything else throws CommandDecodeError, never a half-valid object. */
export function decodeCommand(bytes: Uint8Array): Command {
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (err) {
    // msgpackr signals truncated or malformed input with plain Errors (and RangeErrors) that carry no code;
    // whichever it is, these bytes are not a command.
    throw new CommandDecodeError(`not MessagePack: ${err instanceof Error ? err.message : String(err)}`);
  }
  const problem = commandProblem(value);
  if (problem !== null) throw new CommandDecodeError(`not a command: ${problem}`);
  return commandOf(value as Command | CreateRowsWire);
}
