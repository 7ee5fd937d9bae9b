// The replicated commands: what the leader proposes through Raft and every node's state machine applies, in log order.
//
// The leader stamps each command with `proposedAtMs`, its clock when proposing, and applying reads time from that
// stamp alone, so every node computes the same state from the same log (TigerBeetle: time goes into the command).
// Commands carry normalized specs (job.ts), never raw client bodies: validation happens once, on the leader.
//
// To add a command: add its interface here and to `Command`, then its schema in codec.ts (the compiler asks for it).
import type { JobErrorCode } from './errors.js';
import type { FireResult } from './fire.js';
import type { Job, JobSpec } from './job.js';

interface Stamped {
  /** The leader's clock when it proposed the command: the only "now" the state machine knows. */
  readonly proposedAtMs: number;
  /** Whose jobs the command touches (SPEC §6: ids are unique per tenant). */
  readonly tenant: string;
}

/** One job of a create: its spec, and the hash of the client's body for idempotent creates. */
export interface NewJobEntry {
  readonly spec: JobSpec;
  readonly requestHash: string;
}

/** One `POST /jobs` (a single entry) or one `POST /jobs/batch` (up to 10,000), applied in order. */
export interface CreateJobsCommand extends Stamped {
  readonly type: 'create_jobs';
  readonly jobs: readonly NewJobEntry[];
  /** MAX_JOBS of the proposing node, checked when applying so the count is exact under concurrent creates. */
  readonly maxJobs: number;
}

/**
 * `PATCH /jobs/{id}`: the client's patch body, merged when applying onto the job as it is then, so two PATCHes of
 * different fields both land. The proposer checked it against its copy first; applying checks it again.
 */
export interface UpdateJobCommand extends Stamped {
  readonly type: 'update_job';
  readonly id: string;
  readonly patch: unknown;
  readonly maxPayloadBytes: number;
  readonly denyPrivateWebhooks: boolean;
}

/** A command that names one job and needs nothing else. */
interface JobIdCommand<T extends string> extends Stamped {
  readonly type: T;
  readonly id: string;
}

export type DeleteJobCommand = JobIdCommand<'delete_job'>;
export type PauseJobCommand = JobIdCommand<'pause_job'>;
export type ResumeJobCommand = JobIdCommand<'resume_job'>;
export type CancelJobCommand = JobIdCommand<'cancel_job'>;

/** `POST /jobs/{id}/trigger`: one fire now, outside the schedule, queued for the leader's scheduler. */
export type TriggerJobCommand = JobIdCommand<'trigger_job'>;

/** `POST /dead-letters/{fire_id}/redrive`: the dead letter goes, and its fire is queued again from attempt 1. */
export interface RedriveFireCommand extends Stamped {
  readonly type: 'redrive_fire';
  readonly fireId: string;
}

/** `POST /cluster/pause-firing` and `/resume-firing`: stop or restart all firing, cluster-wide. */
export interface SetFiringCommand extends Stamped {
  readonly type: 'set_firing';
  readonly paused: boolean;
}

/**
 * `POST /cluster/check-state`: changes nothing. Every member digests its whole state as it stands right after this
 * entry, so all digests describe the same log position and must be equal (CockroachDB's consistency checker
 * replicates its ComputeChecksum the same way).
 */
export interface CheckStateCommand {
  readonly type: 'check_state';
  readonly proposedAtMs: number;
}

/** Names one fire of one job. */
interface FireRef {
  readonly tenant: string;
  readonly jobId: string;
  readonly scheduledAtMs: number;
}

/**
 * One step of a fire, as the leader's scheduler reports it (see fire.ts). `start` claims a fire (a scheduled one
 * advances its job; `manual` marks a trigger or redrive); `pass` records scheduled fires from `scheduledAtMs` up
 * to `untilMs` that were not sent; `attempt` is one HTTP try; `finish` ends a fire in flight (`requeue`: unsent
 * because its job was paused or its schedule moved off the fire, so it is no run).
 */
export type FireEvent =
  | FireRef & { readonly kind: 'start'; readonly manual: boolean }
  | FireRef & { readonly kind: 'pass'; readonly untilMs: number; readonly count: number; readonly result: 'skipped' | 'missed' }
  | FireRef & {
    readonly kind: 'attempt'; readonly attempt: number; readonly startedAtMs: number; readonly finishedAtMs: number;
    readonly succeeded: boolean; readonly httpStatus: number | null; readonly error: string | null;
  }
  | FireRef & {
    readonly kind: 'finish'; readonly result: FireResult; readonly attempts: number; readonly error: string | null;
    /** Not sent because its job was paused or its schedule moved off it: no run, and the job's schedule decides. */
    readonly requeue?: true;
  };

/** Many fire events in one entry: outcomes are batched so a thousand fires a second cost a few entries. */
export interface FireEventsCommand {
  readonly type: 'fire_events';
  readonly proposedAtMs: number;
  /** The leader that fired: every execution record names it. */
  readonly nodeId: string;
  readonly events: readonly FireEvent[];
  /** EXECUTIONS_PER_JOB of the proposing node: older records are pruned when applying. */
  readonly executionsPerJob: number;
}

export type Command =
  | CreateJobsCommand
  | UpdateJobCommand
  | DeleteJobCommand
  | PauseJobCommand
  | ResumeJobCommand
  | CancelJobCommand
  | TriggerJobCommand
  | RedriveFireCommand
  | SetFiringCommand
  | CheckStateCommand
  | FireEventsCommand;

export type CommandType = Command['type'];

/** What became of one job of a create: new, the same create again, another body under the id, or no room. */
export type CreateStatus = 'created' | 'exists' | 'conflict' | 'over_capacity';

/** What applying a command answers; it travels back to the proposer (msgpack), so it is plain data. */
export type CommandResult =
  /**
   * Per job, in order. `job` (the stored job) only answers a create of one job, which returns it: a batch answers
   * ids and statuses, and a thousand jobs sent back to a forwarding node would cost more than creating them.
   */
  | { readonly type: 'created'; readonly jobs: readonly { readonly id: string; readonly status: CreateStatus; readonly job: Job | null }[] }
  | { readonly type: 'job'; readonly job: Job }
  | { readonly type: 'deleted'; readonly id: string }
  | { readonly type: 'queued'; readonly fireId: string }
  | { readonly type: 'firing'; readonly paused: boolean }
  /** The log index at which every member digests its state. */
  | { readonly type: 'state_check'; readonly index: number }
  /** Per event, in order: whether it changed anything (a stale `start` claims nothing and must not be sent). */
  | { readonly type: 'fire_events'; readonly applied: readonly boolean[] }
  | { readonly type: 'refused'; readonly code: JobErrorCode; readonly message: string };
