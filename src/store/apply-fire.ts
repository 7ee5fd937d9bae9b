// Applies the firing commands: manual fires queued, the cluster-wide firing switch, and the scheduler's fire events.
import { Packr } from 'msgpackr';
import type {
  CommandResult, FireEvent, FireEventsCommand, RedriveFireCommand, SetFiringCommand, TriggerJobCommand,
} from '../jobs/commands.js';
import {
  finishFire, fireIdOf, isScheduledTime, parseFireId, passScheduledFires, requeueFire, startManualFire, startScheduledFire,
} from '../jobs/fire.js';
import type { Job } from '../jobs/job.js';
import { nextFireAtMs } from '../jobs/schedule.js';
import { readJob, writeJob } from './apply-command.js';
import type { BatchView } from './batch-view.js';
import {
  type DeadLetter, decodeRecord, encodeRecord, type ExecutionRecord, type InFlightFire,
} from './fire-records.js';
import { deadLetterKey, executionKey, firingPausedKey, inFlightKey } from './keys.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

type FireCommand = TriggerJobCommand | RedriveFireCommand | SetFiringCommand | FireEventsCommand;

export async function applyFireCommand(view: BatchView, command: FireCommand): Promise<CommandResult> {
  switch (command.type) {
    case 'trigger_job': {
      const job = await readJob(view, command.tenant, command.id);
      if (job === undefined) return { type: 'refused', code: 'job_not_found', message: `no job ${command.id}` };
      // SPEC §2: a cancelled job will not fire, a trigger included. Refused here, not in the route, because a
      // cancel may commit between the route's read and this entry; apply decides the same on every node.
      if (job.status === 'cancelled') {
        return { type: 'refused', code: 'job_cancelled', message: `job ${job.id} is cancelled; it cannot be triggered` };
      }
      // Two triggers in one millisecond are two fires: the second takes the next free millisecond. A scheduled
      // time is never free: its fire may not be claimed yet, or may have been sent already.
      let atMs = command.proposedAtMs;
      while (isScheduledTime(job, atMs) || await view.get(inFlightKey(job.tenant, job.id, atMs)) !== undefined) atMs++;
      await queueManualFire(view, job, atMs, command.proposedAtMs);
      return { type: 'queued', fireId: fireIdOf(job.id, atMs) };
    }
    case 'redrive_fire': {
      const fire = parseFireId(command.fireId);
      const key = fire === null ? null : deadLetterKey(command.tenant, fire.jobId, fire.scheduledAtMs);
      const job = fire === null ? undefined : await readJob(view, command.tenant, fire.jobId);
      if (fire === null || key === null || job === undefined || await view.get(key) === undefined
        || await view.get(inFlightKey(command.tenant, fire.jobId, fire.scheduledAtMs)) !== undefined) {
        return { type: 'refused', code: 'dead_letter_not_found', message: `no dead letter ${command.fireId}` };
      }
      // A redrive is a fire, which a cancelled job will not have (as trigger_job); its dead letter stays listed.
      if (job.status === 'cancelled') {
        return { type: 'refused', code: 'job_cancelled', message: `job ${job.id} is cancelled; its fire ${command.fireId} cannot be redriven` };
      }
      view.del(key);
      await queueManualFire(view, job, fire.scheduledAtMs, command.proposedAtMs);
      return { type: 'queued', fireId: command.fireId };
    }
    case 'set_firing':
      view.put(firingPausedKey, packr.pack(command.paused));
      view.changes.firingPaused = command.paused;
      return { type: 'firing', paused: command.paused };
    case 'fire_events': {
      const applied: boolean[] = [];
      for (const event of command.events) applied.push(await applyFireEvent(view, event, command));
      return { type: 'fire_events', applied };
    }
  }
}

async function queueManualFire(view: BatchView, job: Job, atMs: number, nowMs: number): Promise<void> {
  const record: InFlightFire = { scheduledAtMs: atMs, manual: true, claimed: false, attempts: 0, queuedAtMs: nowMs };
  const key = inFlightKey(job.tenant, job.id, atMs);
  view.put(key, encodeRecord(key, record));
  writeJob(view, startManualFire(job, nowMs), job);
  view.changes.queued.push({ tenant: job.tenant, id: job.id, atMs });
}

/** Applies one event; false when it no longer applies (its job is gone, or another claim came first). */
async function applyFireEvent(view: BatchView, event: FireEvent, command: FireEventsCommand): Promise<boolean> {
  const job = await readJob(view, event.tenant, event.jobId);
  if (job === undefined) return false;
  const now = command.proposedAtMs;
  const key = inFlightKey(event.tenant, event.jobId, event.scheduledAtMs);
  const raw = await view.get(key);
  const inFlight = raw === undefined ? null : decodeRecord<InFlightFire>(raw, key);
  switch (event.kind) {
    case 'start': {
      if (event.manual) {
        if (inFlight === null || inFlight.claimed) return false;
        view.put(key, encodeRecord(key, { ...inFlight, claimed: true }));
        return true;
      }
      const started = inFlight === null ? startScheduledFire(job, event.scheduledAtMs, now) : null;
      if (started === null) return false;
      writeJob(view, started, job);
      const record: InFlightFire = { scheduledAtMs: event.scheduledAtMs, manual: false, claimed: true, attempts: 0, queuedAtMs: now };
      view.put(key, encodeRecord(key, record));
      return true;
    }
    case 'pass': {
      const passed = passScheduledFires(job, event.scheduledAtMs, event.untilMs, event.count, event.result, now);
      if (passed === null) return false;
      const reason = event.result === 'missed' ? 'not sent: later than catchup_window_ms, or beyond fire_all\'s 100'
        : 'not sent: skipped by catchup or overlap';
      // A record for each fire passed (SPEC §4), up to the records a job keeps: a longer pass names the rest in
      // its last record. Counted from the first, so the cost is bounded by EXECUTIONS_PER_JOB, whatever the pass.
      const times = passedFireTimes(job, event.scheduledAtMs, event.untilMs, Math.min(event.count, command.executionsPerJob));
      const rest = event.count - times.length;
      recordExecutions(view, passed, job, command, times.map((atMs, i) => ({
        fireId: fireIdOf(job.id, atMs), scheduledAtMs: atMs, attempt: 0, startedAtMs: null, finishedAtMs: null,
        nodeId: command.nodeId, status: event.result, httpStatus: null, durationMs: null,
        error: i === times.length - 1 && rest > 0
          ? `${reason}; the ${rest} fire(s) after this one up to ${new Date(event.untilMs).toISOString()} were not sent either`
          : reason,
      })));
      return true;
    }
    case 'attempt': {
      if (inFlight !== null) view.put(key, encodeRecord(key, { ...inFlight, attempts: Math.max(inFlight.attempts, event.attempt) }));
      recordExecution(view, job, job, command, {
        fireId: fireIdOf(job.id, event.scheduledAtMs), scheduledAtMs: event.scheduledAtMs, attempt: event.attempt,
        startedAtMs: event.startedAtMs, finishedAtMs: event.finishedAtMs, nodeId: command.nodeId,
        status: event.succeeded ? 'succeeded' : 'failed', httpStatus: event.httpStatus,
        durationMs: event.finishedAtMs - event.startedAtMs, error: event.error,
      });
      return true;
    }
    case 'finish':
      if (inFlight === null) return false;
      view.del(key);
      finishInFlight(view, job, event, command);
      return true;
  }
}

function finishInFlight(view: BatchView, job: Job, event: FireEvent & { kind: 'finish' }, command: FireEventsCommand): void {
  const finished = finishFire(event.requeue === true ? requeueFire(job) : job, event.result, command.proposedAtMs);
  const fireId = fireIdOf(job.id, event.scheduledAtMs);
  if (event.result === 'dead_lettered') {
    const letter: DeadLetter = {
      tenant: job.tenant, jobId: job.id, fireId, scheduledAtMs: event.scheduledAtMs, attempts: event.attempts,
      error: event.error, deadAtMs: command.proposedAtMs, nodeId: command.nodeId,
    };
    const key = deadLetterKey(job.tenant, job.id, event.scheduledAtMs);
    view.put(key, encodeRecord(key, letter));
  }
  // A fire that was never sent has no attempt record; it gets one execution saying why.
  if (event.result === 'skipped' || event.result === 'missed' || event.result === 'unknown') {
    recordExecution(view, finished, job, command, {
      fireId, scheduledAtMs: event.scheduledAtMs, attempt: event.attempts, startedAtMs: null, finishedAtMs: null,
      nodeId: command.nodeId, status: event.result, httpStatus: null, durationMs: null, error: event.error,
    });
  } else {
    writeJob(view, finished, job);
  }
}

/** Writes `job` with one more execution record, and drops the record that falls out of the kept history. */
function recordExecution(view: BatchView, job: Job, before: Job, command: FireEventsCommand, record: ExecutionRecord): void {
  recordExecutions(view, job, before, command, [record]);
}

/** Writes `job` with these execution records, in order, and drops the records that fall out of the kept history. */
function recordExecutions(view: BatchView, job: Job, before: Job, command: FireEventsCommand, records: readonly ExecutionRecord[]): void {
  writeJob(view, { ...job, executionSeq: job.executionSeq + records.length }, before);
  records.forEach((record, i) => {
    const seq = job.executionSeq + 1 + i;
    const key = executionKey(job.tenant, job.id, seq);
    view.put(key, encodeRecord(key, record));
    const dropped = seq - command.executionsPerJob;
    if (dropped >= 1) view.del(executionKey(job.tenant, job.id, dropped));
  });
}

/** The first `max` scheduled times of the job from `fromMs` (one of them) up to `untilMs`, exclusive. */
function passedFireTimes(job: Job, fromMs: number, untilMs: number, max: number): number[] {
  const times: number[] = [];
  for (let atMs: number | null = fromMs; atMs !== null && atMs < untilMs && times.length < max; atMs = nextFireAtMs(job, atMs)) {
    times.push(atMs);
  }
  return times;
}
