// The one table from error code to HTTP status, and the handler that renders every error as {error, code}.
import { AssertionError } from 'node:assert/strict';
import type { FastifyError, FastifyInstance } from 'fastify';
import type { JobErrorCode } from '../jobs/errors.js';
import type { ClusterErrorCode } from '../raft/index.js';

/** Codes only the API itself raises. */
type ApiOnlyCode = 'unauthorized' | 'forbidden' | 'not_found' | 'node_not_found' | 'unsupported_media_type' | 'internal';

/** Every code a client can see; the table below must map each one (a missing one fails to compile). */
export type ErrorCode = JobErrorCode | ClusterErrorCode | ApiOnlyCode;

export const errorStatus = {
  invalid_request: 400,
  invalid_time: 400,
  invalid_cron: 400,
  invalid_timezone: 400,
  invalid_interval: 400,
  private_webhook_url: 400,
  invalid_conf_change: 400,
  invalid_transfer_target: 400,
  unauthorized: 401,
  forbidden: 403,
  job_not_found: 404,
  dead_letter_not_found: 404,
  node_not_found: 404,
  not_found: 404,
  id_conflict: 409,
  already_completed: 409,
  job_cancelled: 409,
  conf_change_in_progress: 409,
  leadership_transfer_in_progress: 409,
  payload_too_large: 413,
  proposal_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
  no_leader: 503,
  outcome_unknown: 504,
  over_capacity: 507,
} as const satisfies Record<ErrorCode, number>;

/** An error the API raises itself (auth, routing); domain and cluster errors carry their own codes. */
export class ApiError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
  }
}

function isKnownCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(errorStatus, code);
}

/** Maps fastify's own errors (validation, body limits, content type) onto the catalogue. */
function fastifyCode(err: FastifyError): ErrorCode | null {
  if (err.validation !== undefined) return 'invalid_request';
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'payload_too_large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported_media_type';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'invalid_request';
    default:
      return err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? 'invalid_request' : null;
  }
}

export function installErrorHandler(app: FastifyInstance, onFatal: (err: unknown) => void): void {
  app.setErrorHandler(async (err: FastifyError, request, reply) => {
    if (err instanceof AssertionError) {
      // A broken invariant: answering would hide it; the process stops instead.
      request.log.fatal({ err }, 'invariant broken while serving a request');
      onFatal(err);
      return reply.code(500).send({ error: 'internal error', code: 'internal' });
    }
    const code = isKnownCode(err.code) ? err.code : fastifyCode(err);
    if (code === null || code === 'internal') {
      request.log.error({ err }, 'request failed');
      return reply.code(500).send({ error: 'internal error', code: 'internal' });
    }
    const message = err.validation !== undefined ? validationMessage(err) : err.message;
    return reply.code(errorStatus[code]).send({ error: message, code });
  });
  app.setNotFoundHandler(async (request, reply) =>
    reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}`, code: 'not_found' }));
}

/** ajv's first complaint, naming the field: `body.retry.max_attempts must be >= 1`, `body: unknown field "colour"`. */
function validationMessage(err: FastifyError): string {
  const first = err.validation?.[0];
  const where = `${err.validationContext ?? 'request'}${(first?.instancePath ?? '').replace(/\//g, '.')}`;
  if (first === undefined) return err.message;
  const extra = (first.params as { additionalProperty?: unknown }).additionalProperty;
  if (first.keyword === 'additionalProperties' && typeof extra === 'string') return `${where}: unknown field ${JSON.stringify(extra)}`;
  const allowed = (first.params as { allowedValues?: unknown }).allowedValues;
  if (Array.isArray(allowed)) return `${where} must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
  return `${where} ${first.message ?? 'is invalid'}`;
}
