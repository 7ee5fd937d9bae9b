// Checks a job spec that arrived already normalized, from a peer rather than from the API's own checks.
//
// A follower normalizes a create and forwards the command; the leader only proposes what every node can apply.
// A spec the API could never have produced (an unknown zone, a cron croner refuses, a `file:` URL) would, once
// committed, fail on every node and on every restart, so the leader refuses it instead.
import { validateCron } from './cron.js';
import { JobInputError } from './errors.js';
import type { JobSpec } from './job.js';
import { newJob } from './job.js';
import { normalizeWebhookHeaders } from './webhook-headers.js';
import { normalizeWebhookUrl } from './webhook-url.js';
import { canonicalTimezone } from './zone.js';

/** Why `spec` is not one the API could have produced, or null. */
export function specProblem(spec: JobSpec): string | null {
  try {
    if (canonicalTimezone(spec.timezone) !== spec.timezone) return `timezone ${JSON.stringify(spec.timezone)} is not an IANA time zone`;
    const recurs = spec.cronExpression !== null || spec.intervalMs !== null;
    if (spec.type === 'unico' && recurs) return 'a unico has neither cron_expression nor interval';
    if (spec.type === 'recurrente' && (spec.cronExpression === null) === (spec.intervalMs === null)) {
      return 'a recurrente has exactly one of cron_expression and interval';
    }
    if (spec.cronExpression !== null) validateCron(spec.cronExpression, spec.timezone);
    if (spec.webhookUrl !== null && normalizeWebhookUrl(spec.webhookUrl, false) !== spec.webhookUrl) {
      return `webhook_url ${JSON.stringify(spec.webhookUrl)} is not normalized`;
    }
    normalizeWebhookHeaders(spec.headers);
    // What applying it computes (status, first run): whatever throws here would throw on every node.
    newJob(spec, '', spec.startAtMs);
    return null;
  } catch (err) {
    if (err instanceof JobInputError || err instanceof RangeError || err instanceof TypeError) return err.message;
    throw err;
  }
}
