// What one webhook attempt sends: the SPEC §4 body, the fire's headers, the Standard Webhooks signature and a traceparent.
import { createHash, createHmac, randomFillSync } from 'node:crypto';
import type { WebhookAttempt } from './webhook-client.js';

/**
 * The Standard Webhooks headers for one attempt: `webhook-signature` holds one `v1,<base64 HMAC-SHA256>` of
 * `<id>.<timestamp>.<body>` per comma-separated secret, so receivers verify with either key during a rotation.
 * A `whsec_<base64>` secret is its decoded bytes, any other its UTF-8 bytes. No non-empty secret: no headers.
 */
export function signatureHeaders(
  fireId: string, timestampSeconds: number, body: string, secrets: string,
): Record<string, string> {
  const keys = secrets.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (keys.length === 0) return {};
  const signed = `${fireId}.${timestampSeconds}.${body}`;
  const signatures = keys.map((secret) => {
    const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
    return `v1,${createHmac('sha256', key).update(signed).digest('base64')}`;
  });
  return {
    'webhook-id': fireId,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signatures.join(' '),
  };
}

/**
 * A W3C traceparent whose trace id is derived from the fire id, so every attempt of a fire (on any node) joins one
 * trace, while each attempt gets its own span.
 */
function traceparentOf(fireId: string): string {
  const traceId = createHash('sha256').update(fireId).digest('hex').slice(0, 32);
  return `00-${traceId}-${spanId()}-01`;
}

/** Span ids come from one pool of random bytes: a randomBytes call per attempt cost tens of µs under load (measured). */
const spanIdPool = Buffer.alloc(8 * 512);
let spanIdAt = spanIdPool.length;

function spanId(): string {
  if (spanIdAt === spanIdPool.length) {
    randomFillSync(spanIdPool);
    spanIdAt = 0;
  }
  spanIdAt += 8;
  return spanIdPool.toString('hex', spanIdAt - 8, spanIdAt);
}

/** The SPEC §4 body, keys in the SPEC's order. */
export function bodyOf(attempt: WebhookAttempt, firedAtMs: number): string {
  return JSON.stringify({
    job_id: attempt.jobId,
    type: attempt.type,
    fire_id: attempt.fireId,
    scheduled_at: new Date(attempt.scheduledAtMs).toISOString(),
    fired_at: new Date(firedAtMs).toISOString(),
    attempt: attempt.attempt,
    // JSON.stringify drops an undefined member; the body always carries payload.
    payload: attempt.payload === undefined ? null : attempt.payload,
  });
}

/** Content type, then the job's headers, then the fire's own (which win: names are lower-cased so they replace). */
export function headersOf(attempt: WebhookAttempt, body: string, firedAtMs: number, userAgent: string): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const [name, value] of Object.entries(attempt.headers)) headers[name.toLowerCase()] = value;
  Object.assign(headers, {
    'x-job-id': attempt.jobId,
    'x-fire-id': attempt.fireId,
    'x-attempt': String(attempt.attempt),
    'x-scheduled-at': new Date(attempt.scheduledAtMs).toISOString(),
    traceparent: traceparentOf(attempt.fireId),
    'user-agent': userAgent,
  });
  if (attempt.signingSecret !== null) {
    Object.assign(headers, signatureHeaders(attempt.fireId, Math.floor(firedAtMs / 1000), body, attempt.signingSecret));
  }
  return headers;
}

