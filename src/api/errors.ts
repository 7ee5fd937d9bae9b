// The one table from error code to HTTP status, and the handler that renders every error as {error, code}.
import { AssertionError } from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JobErrorCode } from '../jobs/errors.js';
import type { ClusterErrorCode } from '../raft/index.js';

/** Codes only the API itself raises. */
type ApiOnlyCode =
  | 'unauthorized' | 'forbidden' | 'not_found' | 'node_not_found' | 'unsupported_media_type' | 'internal'
  | 'request_timeout' | 'uri_too_long' | 'headers_too_large';

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
  request_timeout: 408,
  id_conflict: 409,
  already_completed: 409,
  job_cancelled: 409,
  conf_change_in_progress: 409,
  leadership_transfer_in_progress: 409,
  payload_too_large: 413,
  proposal_too_large: 413,
  uri_too_long: 414,
  unsupported_media_type: 415,
  headers_too_large: 431,
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

/**
 * The router's own refusals (a path that does not decode, a path parameter over its length), which fastify would
 * otherwise answer in its own shape. Registered as the `frameworkErrors` option.
 */
export function frameworkErrorReply(
  err: FastifyError, request: FastifyRequest, reply: FastifyReply, pathParamCharsMax: number,
): FastifyReply {
  const path = request.url.split('?')[0] ?? '';
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return reply.code(errorStatus.uri_too_long).send({
      error: `${path.length > 80 ? `${path.slice(0, 80)}...` : path}: a path segment is longer than ${pathParamCharsMax} characters`,
      code: 'uri_too_long',
    });
  }
  if (err.code === 'FST_ERR_BAD_URL') {
    return reply.code(errorStatus.invalid_request).send({
      error: 'the path is not valid percent-encoding (RFC 3986 §2.1)', code: 'invalid_request',
    });
  }
  request.log.error({ err }, 'router error');
  return reply.code(500).send({ error: 'internal error', code: 'internal' });
}

/**
 * Requests Node's HTTP parser refuses before fastify sees them: headers too large, a malformed request line or
 * Content-Length, a request not received in time. Node (and fastify's default) answer these in another shape;
 * this writes the API's `{error, code}` and closes the connection, whose framing can no longer be trusted.
 * Registered as the `clientErrorHandler` option.
 */
export function clientErrorReply(err: Error & { code?: string }, socket: Socket): void {
  // A reset or closed connection has no one to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, message] = clientErrorOf(err.code);
  const body = JSON.stringify({ error: message, code });
  if (socket.writable) {
    const status = errorStatus[code];
    socket.write(`HTTP/1.1 ${status} ${httpReason[status]}\r\nContent-Type: application/json\r\n`
      + `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

const httpReason = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' } as const;

function clientErrorOf(nodeCode: string | undefined): ['invalid_request' | 'request_timeout' | 'headers_too_large', string] {
  switch (nodeCode) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return ['request_timeout', 'the request was not received in time'];
    case 'HPE_HEADER_OVERFLOW':
      return ['headers_too_large', 'the request headers are larger than the node takes (16 KiB)'];
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return ['invalid_request', 'the Content-Length header is not a valid length'];
    default:
      return ['invalid_request', `the request is not well-formed HTTP/1.1 (${nodeCode ?? 'unknown parser error'})`];
  }
}
