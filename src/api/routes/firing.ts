// The firing routes of SPEC §2: trigger a job, read its executions, list and redrive dead letters.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Command, CommandResult } from '../../jobs/commands.js';
import { encodeCommand } from '../../jobs/codec.js';
import { fireIdPattern, jobIdPattern } from '../../jobs/schema.js';
import type { DeadLetter, ExecutionRecord } from '../../store/queries.js';
import type { AppDeps } from '../app.js';
import { requireWrite } from '../auth.js';
import { ApiError } from '../errors.js';
import { deadLetterToResponse, executionToResponse } from '../serializers.js';

/** The store's firing records, as the routes read them. */
export interface FiringPort {
  executions(tenant: string, id: string, limit: number): Promise<ExecutionRecord[]>;
  deadLetters(tenant: string, limit: number, cursor: string | null): Promise<{ deadLetters: DeadLetter[]; nextCursor: string | null }>;
}

export interface FiringLimits {
  /** EXECUTIONS_PER_JOB: what a job keeps, and so the most one page lists. */
  readonly executionsPerJob: number;
  readonly deadLettersPageMax: number;
}

const IdParams = Type.Object({ id: Type.String({ pattern: jobIdPattern }) });
const FireIdParams = Type.Object({ fire_id: Type.String({ pattern: fireIdPattern }) });
const Strong = { consistency: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('strong')])) };

export async function firingRoutes(app: FastifyInstance, deps: AppDeps & { readonly firing: FiringPort; readonly firingLimits: FiringLimits }): Promise<void> {
  const { cluster, jobs, firing, firingLimits } = deps;
  const propose = async (command: Command): Promise<CommandResult> => (await cluster.propose(encodeCommand(command))) as CommandResult;
  const queued = (result: CommandResult): { fire_id: string } => {
    if (result.type === 'queued') return { fire_id: result.fireId };
    if (result.type === 'refused') throw new ApiError(result.code, result.message);
    throw new Error(`unexpected result ${result.type}`);
  };

  app.post('/jobs/:id/trigger', {
    schema: { tags: ['firing'], summary: 'Fire the job once now, outside its schedule', params: IdParams },
  }, async (request, reply) => {
    requireWrite(request.caller);
    const { id } = request.params as { id: string };
    const result = await propose({ type: 'trigger_job', tenant: request.caller.tenant, proposedAtMs: Date.now(), id });
    return reply.code(202).send(queued(result));
  });

  app.get('/jobs/:id/executions', {
    schema: {
      tags: ['firing'], summary: "The job's attempts, newest first", params: IdParams,
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: firingLimits.executionsPerJob })), ...Strong },
        { additionalProperties: false }),
    },
  }, async (request) => {
    const { id } = request.params as { id: string };
    const q = request.query as { limit?: number; consistency?: string };
    if (q.consistency === 'strong') await cluster.readBarrier();
    if (jobs.getJob(request.caller.tenant, id) === undefined) throw new ApiError('job_not_found', `no job ${id}`);
    const records = await firing.executions(request.caller.tenant, id, q.limit ?? firingLimits.executionsPerJob);
    return { executions: records.map(executionToResponse) };
  });

  app.get('/dead-letters', {
    schema: {
      tags: ['firing'], summary: 'Fires whose retries are spent',
      querystring: Type.Object({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: firingLimits.deadLettersPageMax })),
        // The next_cursor of the page before: the fire id of the last dead letter it read.
        cursor: Type.Optional(Type.String({ pattern: fireIdPattern, description: "the previous page's next_cursor" })), ...Strong,
      }, { additionalProperties: false }),
    },
  }, async (request) => {
    const q = request.query as { limit?: number; cursor?: string; consistency?: string };
    if (q.consistency === 'strong') await cluster.readBarrier();
    const page = await firing.deadLetters(request.caller.tenant, q.limit ?? 100, q.cursor ?? null);
    return { dead_letters: page.deadLetters.map(deadLetterToResponse), next_cursor: page.nextCursor };
  });

  app.post('/dead-letters/:fire_id/redrive', {
    schema: { tags: ['firing'], summary: 'Fire a dead letter again, from attempt 1', params: FireIdParams },
  }, async (request, reply) => {
    requireWrite(request.caller);
    const { fire_id: fireId } = request.params as { fire_id: string };
    const result = await propose({ type: 'redrive_fire', tenant: request.caller.tenant, proposedAtMs: Date.now(), fireId });
    return reply.code(202).send(queued(result));
  });
}
