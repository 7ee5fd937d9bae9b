// Bearer-token authentication for the API (API_TOKENS): who is calling, and whether they may write.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

export interface ApiToken {
  readonly token: string;
  /** null: an operator, who may use the cluster routes. */
  readonly tenant: string | null;
  readonly readOnly: boolean;
}

export interface Caller {
  readonly tenant: string;
  readonly operator: boolean;
  readonly readOnly: boolean;
}

const defaultTenant = 'default';
const anonymous: Caller = { tenant: defaultTenant, operator: true, readOnly: false };

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Without tokens every caller is an operator of tenant `default`; with tokens a missing or unknown one is 401. */
export function authenticate(request: FastifyRequest, tokens: readonly ApiToken[]): Caller {
  if (tokens.length === 0) return anonymous;
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (match === null) throw new ApiError('unauthorized', 'missing bearer token (Authorization: Bearer <token>)');
  const given = match[1] ?? '';
  const found = tokens.find((t) => sameSecret(t.token, given));
  if (found === undefined) throw new ApiError('unauthorized', 'unknown bearer token');
  return { tenant: found.tenant ?? defaultTenant, operator: found.tenant === null, readOnly: found.readOnly };
}

/** Writes need a token without `:read`; cluster routes need an operator token. */
export function requireWrite(caller: Caller): void {
  if (caller.readOnly) throw new ApiError('forbidden', 'this token is read-only');
}

export function requireOperator(caller: Caller): void {
  if (!caller.operator) throw new ApiError('forbidden', 'cluster routes need an operator token');
  requireWrite(caller);
}
