// The API schemas: closed objects, SPEC field names, the batch checked per job, and patterns valid for ajv (u flag).
import { type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import t from 'tap';
import {
  BatchCreateBody, CreateJobBody, ErrorResponse, JobResponse, ListJobsQuery, PatchJobBody,
} from '../../src/jobs/schema.js';

const check = (schema: TSchema, value: unknown): boolean => TypeCompiler.Compile(schema).Check(value);

/** Every `pattern` in a schema, at any depth. */
function patterns(schema: unknown): string[] {
  if (Array.isArray(schema)) return schema.flatMap(patterns);
  if (schema === null || typeof schema !== 'object') return [];
  return Object.entries(schema).flatMap(([key, value]) => {
    if (key === 'pattern' && typeof value === 'string') return [value];
    if (key === 'patternProperties') return [...Object.keys(value as object), ...patterns(value)];
    return patterns(value);
  });
}

t.test('the create body lists every SPEC §2 field under its SPEC name and no other', async (t) => {
  t.strictSame(Object.keys(CreateJobBody.properties).sort(), [
    'catchup', 'catchup_window_ms', 'cron_expression', 'delivery', 'headers', 'id', 'interval', 'jitter_ms', 'last_date',
    'max_runs', 'method', 'overlap', 'pause_after_failures', 'paused', 'payload', 'retry', 'signing_secret', 'tags',
    'timeout_ms', 'timestamp', 'timezone', 'type', 'webhook_url',
  ]);
  t.strictSame(CreateJobBody.required, ['type']);
  t.equal(CreateJobBody.additionalProperties, false);
  t.strictSame(Object.keys(CreateJobBody.properties.retry.properties).sort(), [
    'backoff_ms', 'max_attempts', 'max_backoff_ms', 'max_duration_ms', 'non_retryable_statuses',
  ]);
  t.ok(check(CreateJobBody, { type: 'unico', timestamp: '2026-01-01T00:00:00Z', payload: [1, { a: null }] }));
  t.ok(check(CreateJobBody, { type: 'recurrente', interval: 60000, timestamp: 1.5 }));
  t.notOk(check(CreateJobBody, { type: 'unico', colour: 'red' }));
  t.notOk(check(CreateJobBody, { type: 'unico', id: 'a/b' }));
  t.ok(check(CreateJobBody, { type: 'unico', id: 'A-z_0.9:x' }));
});

t.test('the patch body has every field but id and type, all optional, at least one', async (t) => {
  t.strictSame(Object.keys(PatchJobBody.properties).sort(), Object.keys(CreateJobBody.properties).filter((k) => k !== 'id' && k !== 'type').sort());
  t.equal(PatchJobBody.required, undefined);
  t.notOk(check(PatchJobBody, {}));
  t.notOk(check(PatchJobBody, { id: 'x' }));
  t.ok(check(PatchJobBody, { paused: true }));
});

t.test('the batch body checks only that jobs is an array of objects, up to 10,000', async (t) => {
  t.ok(check(BatchCreateBody, { jobs: [{ type: 'nonsense', colour: 1 }, {}] }), 'each job is checked later, alone');
  t.notOk(check(BatchCreateBody, { jobs: [1] }));
  t.notOk(check(BatchCreateBody, { jobs: [] }));
  t.notOk(check(BatchCreateBody, { jobs: [{}], more: 1 }));
  t.ok(check(BatchCreateBody, { jobs: new Array(10_000).fill({}) }));
  t.notOk(check(BatchCreateBody, { jobs: new Array(10_001).fill({}) }));
});

t.test('the list query takes type, status, tag k:v (one or many), limit 1-1000, cursor', async (t) => {
  t.ok(check(ListJobsQuery, { type: 'unico', status: 'paused', tag: 'team:core', limit: 1000, cursor: 'abc' }));
  t.ok(check(ListJobsQuery, { tag: ['team:core', 'env:'] }));
  t.ok(check(ListJobsQuery, { consistency: 'strong' }));
  t.notOk(check(ListJobsQuery, { tag: 'nocolon' }));
  t.notOk(check(ListJobsQuery, { limit: 0 }));
  t.notOk(check(ListJobsQuery, { limit: 1001 }));
  t.notOk(check(ListJobsQuery, { status: 'done' }));
  t.notOk(check(ListJobsQuery, { sort: 'id' }));
});

t.test('the job answer has the create fields but the secret, and the state', async (t) => {
  const keys = Object.keys(JobResponse.properties);
  for (const field of Object.keys(CreateJobBody.properties).filter((k) => k !== 'signing_secret')) t.ok(keys.includes(field), field);
  t.notOk(keys.includes('signing_secret'));
  for (const field of ['has_signing_secret', 'next_run_at', 'status', 'created_at', 'updated_at', 'run_count']) t.ok(keys.includes(field), field);
  t.strictSame(ErrorResponse.required, ['error', 'code']);
});

t.test('every pattern compiles with the u flag that ajv uses', async (t) => {
  const all = [CreateJobBody, PatchJobBody, BatchCreateBody, ListJobsQuery, JobResponse].flatMap(patterns);
  t.ok(all.length >= 5);
  for (const pattern of all) t.doesNotThrow(() => new RegExp(pattern, 'u'), pattern);
});
