// Integers in a query string are written in decimal digits: ajv's coercion alone would take `0x10`, `1e1`, ` 5` and `10.0`.
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

const decimal = /^[0-9]{1,15}$/;

/** A preValidation hook: refuses a query parameter that the route's schema types integer unless it is plain digits. */
export async function decimalQueryIntegers(request: FastifyRequest): Promise<void> {
  const schema = request.routeOptions.schema?.querystring as { properties?: Record<string, { type?: unknown }> } | undefined;
  if (schema?.properties === undefined) return;
  const query = request.query as Record<string, unknown>;
  for (const [name, property] of Object.entries(schema.properties)) {
    const raw = query[name];
    if (property.type === 'integer' && typeof raw === 'string' && !decimal.test(raw)) {
      throw new ApiError('invalid_request', `querystring.${name} must be a whole number in decimal digits; got ${JSON.stringify(raw.slice(0, 40))}`);
    }
  }
}
