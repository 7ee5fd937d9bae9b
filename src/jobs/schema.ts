// The JSON schemas (TypeBox) of the jobs API's bodies, query and answers: one source for validation, TS types and OpenAPI.
import { type Static, type TSchema, Type } from '@sinclair/typebox';

// ---------------------------------------------------------------------------
// Vocabulary (SPEC §2): the literal values each enumerated field takes.

export const jobTypes = ['unico', 'recurrente'] as const;
export const jobStatuses = ['pending', 'running', 'completed', 'failed', 'cancelled', 'paused'] as const;
export const webhookMethods = ['POST', 'PUT', 'PATCH'] as const;
export const deliveryModes = ['at_least_once', 'at_most_once'] as const;
export const catchupPolicies = ['fire_once', 'skip', 'fire_all'] as const;
export const overlapPolicies = ['allow', 'skip', 'buffer_one'] as const;
/** Why a job is paused: a client asked, `pause_after_failures` was reached, or the webhook answered 410 Gone. */
export const pausedReasons = ['requested', 'consecutive_failures', 'webhook_gone'] as const;

// ---------------------------------------------------------------------------
// Bounds. config/limits.ts holds the node's limits; these are the ones a job body's shape itself carries.

export const jobIdPattern = '^[A-Za-z0-9._:-]{1,128}$';
/** A fire's id, `<job id>@<scheduled epoch ms>` (X-Fire-Id). */
export const fireIdPattern = '^[A-Za-z0-9._:-]{1,128}@[0-9]{1,16}$';
/** Jobs in one `POST /jobs/batch` (SPEC §2). */
export const batchJobsMax = 10_000;
/** `limit` of `GET /jobs` (SPEC §2). */
export const listLimitMax = 1000;
export const headersCountMax = 64;
export const tagsCountMax = 64;
export const headerValueLengthMax = 8192;
/** A tag key has no ':' so that the filter `tag=k:v` splits at its first ':' without doubt. */
export const tagKeyPattern = '^[^:]{1,128}$';
const dayMs = 86_400_000;

// ---------------------------------------------------------------------------
// Building blocks

/** A string enum, as `anyOf` literals so that both ajv and the TypeBox compiler check it. */
function literals<const T extends readonly string[]>(values: T, description?: string) {
  const options = description === undefined ? {} : { description };
  return Type.Union(values.map((v: T[number]) => Type.Literal(v)), options);
}

function nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}

const TimeInput = Type.Union([Type.String({ maxLength: 64 }), Type.Number()], {
  description: "RFC 3339 with any offset, epoch seconds (number or numeric string), or 'YYYY-MM-DD HH:MM:SS' (UTC)",
});
const DurationInput = Type.Union([Type.String({ maxLength: 64 }), Type.Integer({ minimum: 1 })], {
  description: "'250ms', '90s', '15m', '2h', '1d' (or a sum such as '1h30m'), or an integer of milliseconds",
});
/**
 * Any key at all. Record(String) matches keys with `^(.*)$`, which fails on a key holding a line break (a tag key
 * may), and the serializer drops every key no pattern matches: the job would read back without that tag.
 */
const AnyKey = Type.String({ pattern: '^[\\s\\S]*$' });
const JobId = Type.String({ pattern: jobIdPattern, description: '1-128 of A-Z a-z 0-9 . _ : -' });
/**
 * Names and values are only bounded here: jobs/webhook-headers.ts checks each against its rule, so a refusal says
 * which header breaks which rule (a key pattern here would call a bad name "not a known field").
 */
const Headers = Type.Record(
  AnyKey,
  Type.String({ maxLength: headerValueLengthMax }),
  {
    maxProperties: headersCountMax,
    additionalProperties: false,
    description: 'sent with every fire. Names are HTTP tokens, each once whatever its case; values are visible ASCII '
      + 'with spaces and tabs between characters. Refused: headers the node sets (Content-Type, User-Agent, X-Job-Id, '
      + 'X-Fire-Id, X-Attempt, X-Scheduled-At, traceparent, webhook-id, webhook-timestamp, webhook-signature) and '
      + 'connection or framing ones (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, TE, Trailer, '
      + 'Upgrade, Expect, Host, Content-Length, Content-Encoding). All of them together: at most 12 KiB as sent',
  },
);
const Tags = Type.Record(Type.String({ pattern: tagKeyPattern }), Type.String({ maxLength: 256 }), {
  maxProperties: tagsCountMax,
  additionalProperties: false,
});
const Integer = (minimum: number, maximum: number, description?: string) =>
  Type.Integer(description === undefined ? { minimum, maximum } : { minimum, maximum, description });

const RetryInput = Type.Object(
  {
    max_attempts: Type.Optional(Integer(1, 100, 'every attempt counts, the first included')),
    backoff_ms: Type.Optional(Integer(0, dayMs)),
    max_backoff_ms: Type.Optional(Integer(0, dayMs)),
    max_duration_ms: Type.Optional(nullable(Integer(1, 30 * dayMs))),
    non_retryable_statuses: Type.Optional(
      Type.Array(Integer(100, 599), { maxItems: 100, uniqueItems: true }),
    ),
  },
  { additionalProperties: false, description: 'a missing field takes its default' },
);

/** Every create field but `id` and `type`: the fields a PATCH may replace. */
const mutableFields = {
  timestamp: Type.Optional(TimeInput),
  cron_expression: Type.Optional(nullable(Type.String({ minLength: 1, maxLength: 256 }))),
  interval: Type.Optional(nullable(DurationInput)),
  timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA name' })),
  last_date: Type.Optional(nullable(TimeInput)),
  webhook_url: Type.Optional(nullable(Type.String({ minLength: 1, maxLength: 2048 }))),
  method: Type.Optional(literals(webhookMethods)),
  headers: Type.Optional(Headers),
  payload: Type.Optional(Type.Unknown({ description: 'any JSON, at most MAX_PAYLOAD_BYTES' })),
  delivery: Type.Optional(literals(deliveryModes)),
  retry: Type.Optional(RetryInput),
  timeout_ms: Type.Optional(Integer(1, 3_600_000, 'per attempt')),
  catchup: Type.Optional(literals(catchupPolicies)),
  catchup_window_ms: Type.Optional(Integer(0, 365 * dayMs)),
  overlap: Type.Optional(literals(overlapPolicies)),
  max_runs: Type.Optional(nullable(Integer(1, Number.MAX_SAFE_INTEGER))),
  jitter_ms: Type.Optional(Integer(0, dayMs)),
  pause_after_failures: Type.Optional(Integer(0, 1_000_000, '0: never')),
  signing_secret: Type.Optional(nullable(Type.String({ minLength: 1, maxLength: 1024, description: 'write-only' }))),
  paused: Type.Optional(Type.Boolean()),
  tags: Type.Optional(Tags),
};

// ---------------------------------------------------------------------------
// Requests

/** `POST /jobs`, and each element of a batch. */
export const CreateJobBody = Type.Object(
  { id: Type.Optional(JobId), type: literals(jobTypes), ...mutableFields },
  { additionalProperties: false },
);
export type CreateJobBody = Static<typeof CreateJobBody>;

/** `PATCH /jobs/{id}`: each field given replaces the stored one whole. */
export const PatchJobBody = Type.Object(mutableFields, {
  additionalProperties: false,
  minProperties: 1,
});
export type PatchJobBody = Static<typeof PatchJobBody>;

/**
 * `POST /jobs/batch`. Its jobs are only checked to be objects here: the domain checks each one by itself, so one
 * bad job gets its own result instead of failing the batch.
 */
export const BatchCreateBody = Type.Object(
  {
    jobs: Type.Array(Type.Record(Type.String(), Type.Unknown()), { minItems: 1, maxItems: batchJobsMax }),
  },
  { additionalProperties: false },
);
export type BatchCreateBody = Static<typeof BatchCreateBody>;

const TagFilter = Type.String({ pattern: '^[^:]{1,128}:.{0,256}$', description: 'k:v' });

/** `GET /jobs` query. */
export const ListJobsQuery = Type.Object(
  {
    type: Type.Optional(literals(jobTypes)),
    status: Type.Optional(literals(jobStatuses)),
    tag: Type.Optional(Type.Union([TagFilter, Type.Array(TagFilter, { maxItems: tagsCountMax })])),
    limit: Type.Optional(Integer(1, listLimitMax)),
    // The next_cursor of the page before: the id of the last job it read. Anything else is a client's mistake.
    cursor: Type.Optional(Type.String({ pattern: jobIdPattern, description: "the previous page's next_cursor" })),
    consistency: Type.Optional(literals(['local', 'strong'] as const, 'strong: a linearizable read')),
  },
  { additionalProperties: false },
);
export type ListJobsQuery = Static<typeof ListJobsQuery>;

// ---------------------------------------------------------------------------
// Answers

const Rfc3339 = Type.String({ format: 'date-time', description: 'RFC 3339 UTC with milliseconds' });

/** The job object of `GET /jobs/{id}`: the create fields under their SPEC names, plus its state. */
export const JobResponse = Type.Object(
  {
    id: Type.String(),
    type: literals(jobTypes),
    timestamp: Rfc3339,
    cron_expression: nullable(Type.String()),
    interval: nullable(Type.Integer({ description: 'milliseconds' })),
    timezone: Type.String(),
    last_date: nullable(Rfc3339),
    webhook_url: nullable(Type.String()),
    method: literals(webhookMethods),
    headers: Type.Record(AnyKey, Type.String()),
    payload: Type.Unknown(),
    delivery: literals(deliveryModes),
    retry: Type.Object({
      max_attempts: Type.Integer(),
      backoff_ms: Type.Integer(),
      max_backoff_ms: Type.Integer(),
      max_duration_ms: nullable(Type.Integer()),
      non_retryable_statuses: Type.Array(Type.Integer()),
    }),
    timeout_ms: Type.Integer(),
    catchup: literals(catchupPolicies),
    catchup_window_ms: Type.Integer(),
    overlap: literals(overlapPolicies),
    max_runs: nullable(Type.Integer()),
    jitter_ms: Type.Integer(),
    pause_after_failures: Type.Integer(),
    has_signing_secret: Type.Boolean({ description: 'the secret itself is never returned' }),
    paused: Type.Boolean(),
    tags: Type.Record(AnyKey, Type.String()),
    next_run_at: nullable(Rfc3339),
    status: literals(jobStatuses),
    paused_reason: nullable(literals(pausedReasons)),
    created_at: Rfc3339,
    updated_at: Rfc3339,
    run_count: Type.Integer(),
    consecutive_failures: Type.Integer(),
  },
  { additionalProperties: false },
);
export type JobResponse = Static<typeof JobResponse>;

/** Every error answer (SPEC §2). */
export const ErrorResponse = Type.Object(
  { error: Type.String({ description: 'for humans' }), code: Type.String({ description: 'stable machine code' }) },
  { additionalProperties: false },
);
export type ErrorResponse = Static<typeof ErrorResponse>;
