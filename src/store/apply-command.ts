// Applies one replicated command to the batch view: jobs, their next-fire index and the job tally, deterministically.
import type { CheckStateCommand, Command, CommandResult, CreateJobsCommand, CreateStatus } from '../jobs/commands.js';
import { JobInputError, JobStateError } from '../jobs/errors.js';
import type { Job } from '../jobs/job.js';
import { applyPatch, cancelJob, newJob, pauseJob, resumeJob, updateJob } from '../jobs/job.js';
import type { BatchView } from './batch-view.js';
import { decodeJobAt, encodeJob } from './job-codec.js';
import { applyFireCommand } from './apply-fire.js';
import type { JobKeyTally } from './job-key-tally.js';
import {
  jobDeadLetterPrefix, jobExecutionPrefix, jobInFlightPrefix, jobKey, nextFireKey, prefixEnd,
} from './keys.js';

/** The job `tenant`/`id` as this batch sees it; `key` is its jobKey, for a caller that has it already. */
export async function readJob(view: BatchView, tenant: string, id: string, key = jobKey(tenant, id)): Promise<Job | undefined> {
  // A job this batch wrote already is read as written, not decoded again (every fire event reads its job).
  const written = view.changes.jobs.get(`${tenant}/${id}`);
  if (written !== undefined) return written.job ?? undefined;
  const raw = await view.get(key);
  return raw === undefined ? undefined : decodeJobAt(raw, key, tenant, id);
}

/** Stores a job and moves its next-fire index entry; `before` is the stored version, if any; `key` as readJob's. */
export function writeJob(view: BatchView, job: Job, before: Job | undefined, key = jobKey(job.tenant, job.id)): void {
  view.changes.jobs.set(`${job.tenant}/${job.id}`, { tenant: job.tenant, id: job.id, job });
  if (before !== undefined && before.nextRunAtMs !== null && before.nextRunAtMs !== job.nextRunAtMs) {
    view.del(nextFireKey(before.nextRunAtMs, before.tenant, before.id));
  }
  if (job.nextRunAtMs !== null) view.put(nextFireKey(job.nextRunAtMs, job.tenant, job.id), emptyValue);
  view.putEncoded(key, () => encodeJob(job, key));
}

/** The value of an index entry: the key says everything. Shared, as LevelDB copies what it writes. */
const emptyValue = new Uint8Array(0);

/** Removes a job with everything it left: fires in flight, executions and dead letters. */
async function removeJob(view: BatchView, job: Job, tally: JobKeyTally): Promise<void> {
  view.changes.jobs.set(`${job.tenant}/${job.id}`, { tenant: job.tenant, id: job.id, job: null });
  if (job.nextRunAtMs !== null) view.del(nextFireKey(job.nextRunAtMs, job.tenant, job.id));
  const key = jobKey(job.tenant, job.id);
  view.del(key);
  tally.remove(key);
  for (const prefix of [jobInFlightPrefix(job.tenant, job.id), jobExecutionPrefix(job.tenant, job.id),
    jobDeadLetterPrefix(job.tenant, job.id)]) {
    for (const key of await view.keysWithPrefix(prefix, prefixEnd(prefix))) view.del(key);
  }
}

async function createJobs(view: BatchView, command: CreateJobsCommand, tally: JobKeyTally): Promise<CommandResult> {
  const results: { id: string; status: CreateStatus; job: Job | null }[] = [];
  const answersJob = command.jobs.length === 1;
  for (const { spec, requestHash } of command.jobs) {
    // Made once: every job of a batch reads, writes, seals and counts its record under it.
    const key = jobKey(command.tenant, spec.id);
    const existing = await readJob(view, command.tenant, spec.id, key);
    if (existing !== undefined) {
      // Idempotent create by id: the same body again is answered as before, another body is a conflict.
      results.push({ id: spec.id, status: existing.requestHash === requestHash ? 'exists' : 'conflict', job: answersJob ? existing : null });
    } else if (tally.count >= command.maxJobs) {
      results.push({ id: spec.id, status: 'over_capacity', job: null });
    } else {
      const job = newJob(spec, requestHash, command.proposedAtMs, command.tenant);
      writeJob(view, job, undefined, key);
      tally.add(key);
      results.push({ id: spec.id, status: 'created', job: answersJob ? job : null });
    }
  }
  return { type: 'created', jobs: results };
}

type JobChangeCommand = Extract<Command, { type: 'update_job' | 'delete_job' | 'pause_job' | 'resume_job' | 'cancel_job' }>;

async function changeJob(view: BatchView, command: JobChangeCommand, tally: JobKeyTally): Promise<CommandResult> {
  const before = await readJob(view, command.tenant, command.id);
  if (before === undefined) {
    return { type: 'refused', code: 'job_not_found', message: `no job ${command.id}` };
  }
  if (command.type === 'delete_job') {
    await removeJob(view, before, tally);
    return { type: 'deleted', id: command.id };
  }
  try {
    const now = command.proposedAtMs;
    // A patch applies to the latest version here, so two PATCHes of different fields both land.
    const job = command.type === 'update_job' ? updateJob(before, applyPatch(before, command.patch, {
      nowMs: now, maxPayloadBytes: command.maxPayloadBytes, denyPrivateWebhooks: command.denyPrivateWebhooks,
    }), now)
      : command.type === 'pause_job' ? pauseJob(before, now)
        : command.type === 'resume_job' ? resumeJob(before, now)
          : cancelJob(before, now);
    if (job !== before) writeJob(view, job, before);
    return { type: 'job', job };
  } catch (err) {
    if (!(err instanceof JobStateError || err instanceof JobInputError)) throw err;
    return { type: 'refused', code: err.code, message: err.message };
  }
}

/**
 * Applies `command`; creates and deletes update `tally`, the store's job records as this batch leaves them. A
 * `check_state` changes nothing and is the state machine's own (it ends a batch).
 */
export async function applyCommand(view: BatchView, command: Exclude<Command, CheckStateCommand>, tally: JobKeyTally): Promise<CommandResult> {
  switch (command.type) {
    case 'create_jobs':
      return createJobs(view, command, tally);
    case 'update_job':
    case 'delete_job':
    case 'pause_job':
    case 'resume_job':
    case 'cancel_job':
      return changeJob(view, command, tally);
    case 'trigger_job':
    case 'redrive_fire':
    case 'set_firing':
    case 'fire_events':
      return applyFireCommand(view, command);
  }
}
