// The jobs routes of SPEC §2: create (single and batch), read, list, change, delete, pause, resume, cancel, schedule, status.
import { randomUUID } from 'node:crypto';
import { type TSchema, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import type { Command, CommandResult } from '../../jobs/commands.js';
import { encodeCommand } from '../../jobs/codec.js';
import { JobInputError } from '../../jobs/errors.js';
import type { Job } from '../../jobs/job.js';
import { applyPatch, normalizeCreate, requestDigestOf, requestHashOf } from '../../jobs/job.js';
import { upcomingFires } from '../../jobs/schedule.js';
import { BatchCreateBody, CreateJobBody, ErrorResponse, jobIdPattern, JobResponse, ListJobsQuery, PatchJobBody } from '../../jobs/schema.js';
import type { JobPage, ListFilter } from '../../store/queries.js';
import type { AppDeps } from '../app.js';
import type { FiringLimits } from './firing.js';
import { requireWrite } from '../auth.js';
import { ApiError, errorStatus } from '../errors.js';
import { jobToResponse, toRfc3339 } from '../serializers.js';

/** The store's read side, as the routes use it. */
export interface JobsPort {
  getJob(tenant: string, id: string): Job | undefined;
  listJobs(filter: ListFilter): Promise<JobPage>;
}

export interface JobLimits extends FiringLimits {
  readonly maxJobs: number;
  readonly maxPayloadBytes: number;
  readonly denyPrivateWebhooks: boolean;
  readonly batchJobsMax: number;
  readonly listLimitDefault: number;
  readonly scheduleCountDefault: number;
  readonly scheduleCountMax: number;
  /** A batch is split into proposals of at most this many encoded bytes, so no Raft entry outgrows a peer body. */
  readonly proposalBytesMax: number;
  /** ... and of at most this many jobs, so no single apply stalls Raft for long. */
  readonly batchEntryJobsMax: number;
}

const IdParams = Type.Object({ id: Type.String({ pattern: jobIdPattern }) });
const Consistency = Type.Object({ consistency: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('strong')])) },
  { additionalProperties: false });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 503: ErrorResponse };

type Deps = AppDeps & { readonly limits: JobLimits };

const batchBodyCheck = TypeCompiler.Compile(BatchCreateBody);

/**
 * The validator of the routes that take a job body. The body is left to the jobs domain's TypeBox check, which
 * sees each field exactly as sent: ajv's type coercion, right for query strings, would read `max_runs: 0`,
 * `webhook_url: ""` or `signing_secret: ""` as null (no limit, no webhook, no signature) and `timeout_ms: true` as 1.
 */
const uncoercedBody: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  if (httpPart === 'body') return () => true;
  // Every schema of these routes is a TypeBox one (params: IdParams).
  const check = TypeCompiler.Compile(schema as TSchema);
  return (data: unknown) => check.Check(data) || { error: shapeError(check, data, httpPart ?? 'request') };
};

function shapeError(check: ReturnType<typeof TypeCompiler.Compile>, data: unknown, part: string): ApiError {
  const first = check.Errors(data).First();
  const where = `${part}${(first?.path ?? '').replace(/\//g, '.')}`;
  return new ApiError('invalid_request', `${where} ${(first?.message ?? 'is invalid').replace(/^Expected/, 'must be')}`);
}

export async function jobRoutes(app: FastifyInstance, deps: Deps): Promise<void> {
  const { cluster, jobs, limits } = deps;
  const propose = async (command: Command): Promise<CommandResult> => (await cluster.propose(encodeCommand(command))) as CommandResult;
  const options = (nowMs: number, generatedId?: string): Parameters<typeof normalizeCreate>[1] => ({
    nowMs, maxPayloadBytes: limits.maxPayloadBytes, denyPrivateWebhooks: limits.denyPrivateWebhooks,
    ...(generatedId === undefined ? {} : { generatedId }),
  });
  const localJob = async (request: FastifyRequest, id: string, strong: boolean): Promise<Job> => {
    if (strong) await cluster.readBarrier();
    const job = jobs.getJob(request.caller.tenant, id);
    if (job === undefined) throw new ApiError('job_not_found', `no job ${id}`);
    return job;
  };

  app.post('/jobs', {
    validatorCompiler: uncoercedBody,
    schema: { tags: ['jobs'], summary: 'Create a job (idempotent by id)', body: CreateJobBody, response: { 201: JobResponse, 200: JobResponse, ...errors } },
  }, async (request, reply) => {
    requireWrite(request.caller);
    const nowMs = Date.now();
    const spec = normalizeCreate(request.body, options(nowMs, randomUUID()));
    const result = await propose({
      type: 'create_jobs', tenant: request.caller.tenant, proposedAtMs: nowMs, maxJobs: limits.maxJobs,
      jobs: [{ spec, requestHash: requestHashOf(request.body) }],
    });
    const created = result.type === 'created' ? result.jobs[0] : undefined;
    if (created === undefined) throw new Error(`create answered ${result.type}`);
    switch (created.status) {
      case 'created':
      case 'exists':
        return reply.code(created.status === 'created' ? 201 : 200).send(jobToResponse(created.job as Job));
      case 'conflict':
        throw new ApiError('id_conflict', `job ${created.id} exists with another body`);
      case 'over_capacity':
        throw new ApiError('over_capacity', `the cluster holds MAX_JOBS (${limits.maxJobs}) jobs`);
    }
  });

  app.post('/jobs/batch', {
    validatorCompiler: uncoercedBody,
    schema: { tags: ['jobs'], summary: 'Create up to 10,000 jobs in order, one result each', body: BatchCreateBody },
  }, async (request) => {
    requireWrite(request.caller);
    if (!batchBodyCheck.Check(request.body)) throw shapeError(batchBodyCheck, request.body, 'body');
    return { results: await createBatch(request, request.body.jobs, Date.now(), propose, options, limits) };
  });

  app.get('/jobs/:id', {
    schema: { tags: ['jobs'], summary: 'Read a job', params: IdParams, querystring: Consistency, response: { 200: JobResponse, ...errors } },
  }, async (request) => {
    const { id } = request.params as { id: string };
    return jobToResponse(await localJob(request, id, isStrong(request)));
  });

  app.get('/jobs', {
    schema: { tags: ['jobs'], summary: 'List jobs, filtered, with cursor pagination', querystring: ListJobsQuery },
  }, async (request) => {
    const q = request.query as ListJobsQuery;
    if (q.consistency === 'strong') await cluster.readBarrier();
    const tagList = q.tag === undefined ? [] : Array.isArray(q.tag) ? q.tag : [q.tag];
    const page = await jobs.listJobs({
      tenant: request.caller.tenant, type: (q.type ?? null), status: (q.status ?? null),
      tags: tagList.map((t) => {
        const at = t.indexOf(':');
        return [t.slice(0, at), t.slice(at + 1)] as const;
      }),
      limit: q.limit ?? limits.listLimitDefault, cursor: q.cursor ?? null,
    });
    return { jobs: page.jobs.map(jobToResponse), next_cursor: page.nextCursor };
  });

  app.patch('/jobs/:id', {
    validatorCompiler: uncoercedBody,
    schema: { tags: ['jobs'], summary: 'Change fields of a job (each given field replaces the stored one)', params: IdParams, body: PatchJobBody, response: { 200: JobResponse, ...errors } },
  }, async (request) => {
    requireWrite(request.caller);
    const { id } = request.params as { id: string };
    const nowMs = Date.now();
    // A quick 400 against the local copy when there is one; the apply checks again against the latest version.
    // A job missing here may exist on the leader (this node lags): only the apply may answer 404, or a PATCH
    // right after an acknowledged create would be refused (found by the fault suite's linearizability check).
    const local = jobs.getJob(request.caller.tenant, id);
    if (local !== undefined) applyPatch(local, request.body, options(nowMs));
    return jobToResponse(jobOf(await propose({
      type: 'update_job', tenant: request.caller.tenant, proposedAtMs: nowMs, id, patch: request.body,
      maxPayloadBytes: limits.maxPayloadBytes, denyPrivateWebhooks: limits.denyPrivateWebhooks,
    })));
  });

  app.delete('/jobs/:id', { schema: { tags: ['jobs'], summary: 'Delete a job; it never fires after the 204', params: IdParams } },
    async (request, reply) => {
      requireWrite(request.caller);
      const { id } = request.params as { id: string };
      const result = await propose({ type: 'delete_job', tenant: request.caller.tenant, proposedAtMs: Date.now(), id });
      if (result.type === 'refused') throw new ApiError(result.code, result.message);
      return reply.code(204).send();
    });

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    app.post(`/jobs/:id/${action}`, { schema: { tags: ['jobs'], summary: `${action[0]?.toUpperCase()}${action.slice(1)} a job`, params: IdParams, response: { 200: JobResponse, ...errors } } },
      async (request) => {
        requireWrite(request.caller);
        const { id } = request.params as { id: string };
        return jobToResponse(jobOf(await propose({ type: `${action}_job`, tenant: request.caller.tenant, proposedAtMs: Date.now(), id })));
      });
  }

  app.get('/jobs/:id/schedule', {
    schema: {
      tags: ['jobs'], summary: 'The next N fire times', params: IdParams,
      querystring: Type.Object({ count: Type.Optional(Type.Integer({ minimum: 1, maximum: limits.scheduleCountMax })), consistency: Type.Optional(Type.String()) }),
    },
  }, async (request) => {
    const { id } = request.params as { id: string };
    const job = await localJob(request, id, isStrong(request));
    const count = (request.query as { count?: number }).count ?? limits.scheduleCountDefault;
    const fires = job.nextRunAtMs === null ? [] : upcomingFires(job, job.nextRunAtMs, count, { runCount: job.runCount });
    return { fires: fires.map(toRfc3339) };
  });

  app.get('/jobs/:id/status', { schema: { tags: ['jobs'], summary: 'Status and counts', params: IdParams, querystring: Consistency } },
    async (request) => {
      const { id } = request.params as { id: string };
      const job = await localJob(request, id, isStrong(request));
      return {
        id: job.id, status: job.status, paused_reason: job.pausedReason, next_run_at: job.nextRunAtMs === null ? null : toRfc3339(job.nextRunAtMs),
        run_count: job.runCount, consecutive_failures: job.consecutiveFailures, fires_in_flight: job.firesInFlight,
        fires: {
          succeeded: job.fireCounts.succeeded, failed: job.fireCounts.failed, skipped: job.fireCounts.skipped,
          missed: job.fireCounts.missed, unknown: job.fireCounts.unknown,
        },
      };
    });
}

function isStrong(request: FastifyRequest): boolean {
  return (request.query as { consistency?: string } | undefined)?.consistency === 'strong';
}

function jobOf(result: CommandResult): Job {
  if (result.type === 'job') return result.job;
  if (result.type === 'refused') throw new ApiError(result.code, result.message);
  throw new Error(`unexpected result ${result.type}`);
}

interface BatchResult {
  id: string | null;
  status: number;
  code?: string;
  error?: string;
}

/** Checks each job alone, then proposes the valid ones in order, in as few entries as the size bound allows. */
async function createBatch(request: FastifyRequest, bodies: readonly unknown[], nowMs: number,
  propose: (c: Command) => Promise<CommandResult>, options: (nowMs: number, id?: string) => Parameters<typeof normalizeCreate>[1],
  limits: JobLimits): Promise<BatchResult[]> {
  const results: BatchResult[] = [];
  const valid: { at: number; bytes: number; entry: { spec: ReturnType<typeof normalizeCreate>; requestHash: string } }[] = [];
  bodies.forEach((body, at) => {
    try {
      const hasId = typeof body === 'object' && body !== null && (body as { id?: unknown }).id !== undefined;
      const spec = normalizeCreate(body, options(nowMs, hasId ? undefined : randomUUID()));
      const { hash, jsonLength } = requestDigestOf(body);
      // A generous bound on the job's share of the entry: its body as canonical JSON, plus every field the body
      // left to its default spelled out, the hash and the field names.
      valid.push({ at, bytes: jsonLength + 1024, entry: { spec, requestHash: hash } });
      results.push({ id: null, status: 0 });
    } catch (err) {
      if (!(err instanceof JobInputError)) throw err;
      const id = (body as { id?: unknown }).id;
      // The status a single create of this body gets (413 for payload_too_large), so a client reads both alike.
      results.push({ id: typeof id === 'string' ? id : null, status: errorStatus[err.code], code: err.code, error: err.message });
    }
  });
  for (const group of bySize(valid, limits.proposalBytesMax, limits.batchEntryJobsMax)) {
    const result = await propose({
      type: 'create_jobs', tenant: request.caller.tenant, proposedAtMs: nowMs, maxJobs: limits.maxJobs, jobs: group.map((v) => v.entry),
    });
    if (result.type !== 'created') throw new Error(`batch create answered ${result.type}`);
    result.jobs.forEach((r, i) => {
      const at = group[i]?.at ?? -1;
      results[at] = r.status === 'created' ? { id: r.id, status: 201 } : r.status === 'exists' ? { id: r.id, status: 200 }
        : r.status === 'conflict' ? { id: r.id, status: 409, code: 'id_conflict', error: `job ${r.id} exists with another body` }
          : { id: r.id, status: 507, code: 'over_capacity', error: 'the cluster holds MAX_JOBS jobs' };
    });
  }
  return results;
}

function bySize<T extends { bytes: number }>(items: readonly T[], bytesMax: number, countMax: number): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = item.bytes;
    if (current.length > 0 && (bytes + size > bytesMax || current.length >= countMax)) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
