// The parser of application/json bodies: fastify's own, but a refusal says what is wrong with the body.
//
// fastify's default parser answers every body JSON.parse refuses, and every body with a `__proto__` key, "Body is not
// valid JSON": the position of a syntax error is lost, and a valid body with a key that could poison a prototype
// (refused, as fastify refuses it) is called invalid JSON.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

/** Replaces fastify's application/json parser (same media types, same body limit) with parseJsonBody. */
export function installJsonBodyParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request: FastifyRequest, body: string,
    done: (err: Error | null, value?: unknown) => void) => {
    try {
      done(null, parseJsonBody(body));
    } catch (err) {
      done(err as Error);
    }
  });
}

/**
 * The body as JSON.parse reads it; an ApiError (invalid_request) for an empty body, one JSON.parse refuses (with
 * its reason and position), and one holding a `__proto__` key or a `constructor` object with a `prototype`, as
 * fastify's own parser refuses them (secure-json-parse: merging such an object into another changes every object).
 */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new ApiError('invalid_request', 'the body is empty; it must be JSON');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // V8 quotes a few characters of the body: control characters among them are escaped, so the message stays one line.
    throw new ApiError('invalid_request', `the body is not valid JSON: ${escapeControls((err as Error).message).slice(0, 200)}`);
  }
  // A key can be spelt with \u escapes, so any escape means a look; most bodies have none and are not walked.
  if (text.includes('__proto__') || text.includes('constructor') || text.includes('\\u')) {
    const where = poisonedPath(value, 'body');
    if (where !== null) throw new ApiError('invalid_request', `${where}: a key that can poison an object's prototype is refused`);
  }
  return value;
}

/** The path of the first `__proto__` key, or `constructor` object with a `prototype` key, in `value`; else null. */
function poisonedPath(value: unknown, path: string): string | null {
  // An explicit stack: a body can nest deeper than the call stack goes.
  const stack: [unknown, string][] = [[value, path]];
  while (stack.length > 0) {
    const [node, at] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (Array.isArray(node)) {
      node.forEach((item, i) => stack.push([item, `${at}[${i}]`]));
      continue;
    }
    if (Object.hasOwn(node, '__proto__')) return `${at}.__proto__`;
    const ctor = (node as Record<string, unknown>)['constructor'];
    if (Object.hasOwn(node, 'constructor') && typeof ctor === 'object' && ctor !== null && Object.hasOwn(ctor, 'prototype')) {
      return `${at}.constructor.prototype`;
    }
    for (const [key, child] of Object.entries(node)) stack.push([child, `${at}.${key}`]);
  }
  return null;
}

function escapeControls(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029;
    out += control ? `\\u${code.toString(16).padStart(4, '0')}` : c;
  }
  return out;
}
