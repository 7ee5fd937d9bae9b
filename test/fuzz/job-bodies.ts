// Job bodies for the API fuzzer: valid creates and patches with what GET must answer (SPEC §2), and one-field mutations.
import fc from 'fast-check';
import { nextFireAtMs } from '../../src/jobs/schedule.js';

/** A request body and, for a valid one, every SPEC §2 field its job must read back with. */
export interface ValidBody {
  readonly body: Record<string, unknown>;
  /** Response fields by SPEC name; `timestamp: null` means "the time of the request" (a recurrente's default start). */
  readonly expected: Record<string, unknown>;
}

/** A body with one thing wrong. `mustRefuse`: no reading of SPEC §2 accepts it (type coercion cannot rescue it). */
export interface Mutation {
  readonly label: string;
  readonly mustRefuse: boolean;
  /** The JSON text to send (built as text, so nesting deeper than JSON.stringify's stack can be sent). */
  readonly text: string;
  /** A field that, if the body is accepted, must read back exactly so (no silent change of the text sent). */
  readonly readBack?: { readonly field: string; readonly value: unknown };
}

const dayMs = 86_400_000;
/** Every instant generated lies after the test's clock, so no generated job fires while a property runs. */
const futureMinMs = Date.UTC(2030, 0, 1);
const futureMaxMs = Date.UTC(9000, 0, 1);
/** croner finds no time from the year 3000 on, so a cron job starting later ends at once ("completed"). */
const cronFutureMaxMs = Date.UTC(2990, 0, 1);
export const jobFieldNames = [
  'id', 'type', 'timestamp', 'cron_expression', 'interval', 'timezone', 'last_date', 'webhook_url', 'method', 'headers',
  'payload', 'delivery', 'retry', 'timeout_ms', 'catchup', 'catchup_window_ms', 'overlap', 'max_runs', 'jitter_ms',
  'pause_after_failures', 'signing_secret', 'paused', 'tags',
] as const;
/** Headers a job may not give: the ones every fire sets itself (SPEC §4), and connection or framing ones. */
const reservedHeaders = new Set([
  'content-type', 'user-agent', 'traceparent', 'x-job-id', 'x-fire-id', 'x-attempt', 'x-scheduled-at', 'webhook-id',
  'webhook-timestamp', 'webhook-signature', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te',
  'trailer', 'upgrade', 'expect', 'host', 'content-length', 'content-encoding',
]);
/** Keys the JSON body parser refuses on sight (prototype poisoning), so a valid body never holds them. */
const poisonKeys = new Set(['__proto__', 'constructor', 'prototype']);
export const zones = [
  'UTC', 'Europe/Madrid', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/St_Johns',
  'Pacific/Chatham', 'Asia/Tokyo', 'Africa/Casablanca', 'America/Sao_Paulo', 'Pacific/Apia', 'Etc/GMT+5',
] as const;

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

export function iso(atMs: number): string {
  return new Date(atMs).toISOString();
}

// ---------------------------------------------------------------------------
// Field values

/** A time in one of SPEC §2's request forms, with the instant it names (digits past the millisecond dropped). */
export function timeInput(atMs: number): fc.Arbitrary<{ input: string | number; atMs: number }> {
  const wholeMs = atMs - (atMs % 1000);
  const d = new Date(atMs);
  const spaced = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} `
    + `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const withOffset = fc.record({
    offsetMinutes: fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
    digits: fc.constantFrom(0, 1, 2, 3, 6, 9),
    lowerCase: fc.boolean(),
    extraDigits: fc.integer({ min: 0, max: 999_999 }),
  }).map(({ offsetMinutes, digits, lowerCase, extraDigits }) => {
    const wall = new Date(atMs + offsetMinutes * 60_000).toISOString().slice(0, 19);
    const millis = pad(atMs % 1000, 3);
    const fraction = digits === 0 ? '' : `.${(millis + pad(extraDigits, 6)).slice(0, digits)}`;
    const truncatedMs = digits >= 3 ? atMs : atMs - (atMs % 10 ** (3 - digits));
    const abs = Math.abs(offsetMinutes);
    const offset = offsetMinutes === 0 && lowerCase ? 'z'
      : `${offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
    return { input: `${lowerCase ? wall.replace('T', 't') : wall}${fraction}${offset}`, atMs: truncatedMs };
  });
  return fc.oneof(
    fc.constant({ input: iso(atMs), atMs }),
    withOffset,
    fc.constant({ input: spaced, atMs: wholeMs }),
    fc.constant({ input: atMs / 1000, atMs }),
    fc.constant({ input: String(wholeMs / 1000), atMs: wholeMs }),
    fc.constant({ input: `${Math.floor(atMs / 1000)}.${pad(atMs % 1000, 3)}`, atMs }),
  );
}

const futureMs = fc.integer({ min: futureMinMs, max: futureMaxMs });
const cronFutureMs = fc.integer({ min: futureMinMs, max: cronFutureMaxMs });

function numberList(min: number, max: number): fc.Arbitrary<string> {
  const item = fc.oneof(
    fc.integer({ min, max }).map(String),
    fc.tuple(fc.integer({ min, max }), fc.integer({ min, max })).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
  );
  return fc.uniqueArray(item, { minLength: 1, maxLength: 3 }).map((items) => items.join(','));
}

/** One cron field over [min, max] from the common grammar: `*`, `*\/n`, a list of numbers and ranges, `a-b/n`. */
export function cronField(min: number, max: number): fc.Arbitrary<string> {
  const step = fc.integer({ min: 1, max: Math.max(1, max - min) });
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant('*') },
    { weight: 2, arbitrary: step.map((n) => `*/${n}`) },
    { weight: 4, arbitrary: numberList(min, max) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.integer({ min, max }), fc.integer({ min, max }), step)
        .map(([a, b, n]) => `${Math.min(a, b)}-${Math.max(a, b)}/${n}`),
    },
  );
}

/**
 * A cron expression that fires on some date: 5 fields, or 6 with seconds first. The day of month stays at most
 * 28, so no month/day pair can make it never fire (that is a refusal, tested apart).
 */
export const validCron: fc.Arbitrary<string> = fc.tuple(
  fc.option(cronField(0, 59), { nil: undefined }), cronField(0, 59), cronField(0, 23), cronField(1, 28),
  cronField(1, 12), cronField(0, 6),
).map(([seconds, ...rest]) => (seconds === undefined ? rest : [seconds, ...rest]).join(' '));

/** A duration in the forms SPEC §2 allows, with its milliseconds. */
const intervalInput: fc.Arbitrary<{ input: string | number; ms: number }> = fc.oneof(
  fc.integer({ min: 1000, max: 3650 * dayMs }).map((ms) => ({ input: ms, ms })),
  fc.tuple(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom(['s', 1000], ['m', 60_000], ['h', 3_600_000], ['d', dayMs]))
    .map(([n, [unit, ms]]) => ({ input: `${n}${unit}`, ms: n * (ms as number) })),
  fc.tuple(fc.integer({ min: 1, max: 48 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 1, max: 999 }))
    .map(([h, m, ms]) => ({ input: `${h}h${m}m${ms}ms`, ms: h * 3_600_000 + m * 60_000 + ms })),
).filter(({ ms }) => ms <= 3650 * dayMs);

const headerName = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,40}$/)
  .filter((name) => !reservedHeaders.has(name.toLowerCase()) && !poisonKeys.has(name));
/** Any text, control characters and line breaks included (`binary`: every code point, well-formed). */
const anyText = (constraints: { minLength?: number; maxLength: number }): fc.Arbitrary<string> =>
  fc.oneof(fc.string({ unit: 'grapheme', ...constraints }), fc.string({ unit: 'binary', ...constraints }));
/** What a fire can send as written: visible ASCII, spaces and tabs only between visible characters. */
const headerValue = fc.oneof(
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 6, arbitrary: fc.stringMatching(/^[\x21-\x7e](?:[\t\x20-\x7e]{0,58}[\x21-\x7e])?$/) },
);
/** Up to 4 headers, no two names the same whatever their case (the API refuses such a pair). */
const headers = fc.uniqueArray(fc.tuple(headerName, headerValue), { maxLength: 4, selector: ([name]) => name.toLowerCase() })
  .map((entries) => Object.fromEntries(entries));
const tagKey = anyText({ minLength: 1, maxLength: 24 }).filter((k) => !k.includes(':') && !poisonKeys.has(k) && k.length <= 128);
const tagValue = anyText({ maxLength: 60 });

const payload: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4, stringUnit: 'grapheme' })
  .filter((v) => !JSON.stringify(v).match(/"(?:__proto__|constructor|prototype)":/));

const retry = fc.record({
  max_attempts: fc.integer({ min: 1, max: 100 }),
  backoff_ms: fc.integer({ min: 0, max: 60_000 }),
  max_backoff_ms: fc.integer({ min: 60_000, max: dayMs }),
  max_duration_ms: fc.option(fc.integer({ min: 1, max: 30 * dayMs }), { nil: null }),
  non_retryable_statuses: fc.uniqueArray(fc.integer({ min: 100, max: 599 }), { maxLength: 8 }),
}, { requiredKeys: [] });

const signingSecret = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9]{1,40}$/),
  fc.uint8Array({ minLength: 1, maxLength: 32 }).map((key) => `whsec_${Buffer.from(key).toString('base64')}`),
);

const webhookUrl = fc.oneof(
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.constantFrom('https://example.com/hook', 'HTTP://Example.COM:80/a/../b', 'https://[::1]:8443/x?y=1', 'http://ü.example/ä'),
).filter((url) => url.length <= 2048 && URL.canParse(url));

/** The fields any job may carry, each optional, with the stored form of each. */
const commonFields = fc.record({
  timezone: fc.constantFrom(...zones),
  webhook_url: fc.option(webhookUrl, { nil: null }),
  method: fc.constantFrom('POST', 'PUT', 'PATCH'),
  headers,
  payload,
  delivery: fc.constantFrom('at_least_once', 'at_most_once'),
  retry,
  timeout_ms: fc.integer({ min: 1, max: 3_600_000 }),
  catchup: fc.constantFrom('fire_once', 'skip', 'fire_all'),
  catchup_window_ms: fc.integer({ min: 0, max: 365 * dayMs }),
  overlap: fc.constantFrom('allow', 'skip', 'buffer_one'),
  jitter_ms: fc.integer({ min: 0, max: dayMs }),
  pause_after_failures: fc.integer({ min: 0, max: 1_000_000 }),
  signing_secret: fc.option(signingSecret, { nil: null }),
  paused: fc.boolean(),
  tags: fc.dictionary(tagKey, tagValue, { maxKeys: 4, noNullPrototype: true }),
}, { requiredKeys: [] });

// ---------------------------------------------------------------------------
// Whole bodies

const defaults: Record<string, unknown> = {
  cron_expression: null, interval: null, timezone: 'UTC', last_date: null, webhook_url: null, method: 'POST',
  headers: {}, payload: null, delivery: 'at_least_once', timeout_ms: 10_000, catchup: 'fire_once',
  catchup_window_ms: dayMs, overlap: 'allow', max_runs: null, jitter_ms: 0, pause_after_failures: 0,
  has_signing_secret: false, paused: false, tags: {},
};
const retryDefaults = { max_attempts: 3, backoff_ms: 1000, max_backoff_ms: 60_000, max_duration_ms: null, non_retryable_statuses: [] };

/** How the job stores each common field given in `fields`, by SPEC §2 (defaults for the rest are in `defaults`). */
function storedCommon(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (key === 'retry') {
      const given = value as Record<string, unknown>;
      const statuses = (given['non_retryable_statuses'] as number[] | undefined) ?? [];
      out['retry'] = { ...retryDefaults, ...given, non_retryable_statuses: [...statuses].sort((a, b) => a - b) };
    } else if (key === 'signing_secret') {
      out['has_signing_secret'] = value !== null;
    } else if (key === 'webhook_url') {
      out['webhook_url'] = value === null ? null : new URL(value as string).href;
    } else if (key === 'payload') {
      out['payload'] = JSON.parse(JSON.stringify(value)) as unknown;
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** Runs of spaces and tabs between cron fields read as one space (the stored form). */
function spacedCron(expression: string): fc.Arbitrary<string> {
  return fc.constantFrom(' ', '  ', '\t', ' \t ').map((gap) => `${gap === ' ' ? '' : gap}${expression.split(' ').join(gap)}`);
}

interface Schedule {
  readonly body: Record<string, unknown>;
  readonly stored: Record<string, unknown>;
  /** The latest start that still leaves fires to find. */
  readonly startMax: fc.Arbitrary<number>;
}

const schedule: fc.Arbitrary<Schedule> = fc.oneof(
  validCron.chain((cron) => spacedCron(cron).map((input) => ({
    body: { cron_expression: input }, stored: { cron_expression: cron }, startMax: cronFutureMs,
  }))),
  intervalInput.map(({ input, ms }) => ({ body: { interval: input }, stored: { interval: ms }, startMax: futureMs })),
);

export const validUnico: fc.Arbitrary<ValidBody> = fc.tuple(futureMs.chain(timeInput), commonFields).map(([time, fields]) => ({
  body: { type: 'unico', timestamp: time.input, ...fields },
  expected: {
    ...defaults, retry: retryDefaults, type: 'unico', ...storedCommon(fields), timestamp: iso(time.atMs),
    status: fields.paused === true ? 'paused' : 'pending', next_run_at: fields.paused === true ? null : iso(time.atMs),
  },
}));

export const validRecurrente: fc.Arbitrary<ValidBody> = schedule.chain((sched) => fc.tuple(
  fc.option(sched.startMax.chain(timeInput), { nil: undefined }), fc.constant(sched), commonFields,
  // At least a second: the written form may drop the last date's milliseconds, and it must stay after the start.
  fc.option(fc.integer({ min: 1000, max: 1000 * dayMs }), { nil: undefined }),
  fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
).chain(([time, sched, fields, lastDateAfterMs, maxRuns]) => {
  // After the schedule's first fire, or the job would never fire (refused). A job without timestamp starts at its
  // create, before futureMinMs, so its first fire is no later than the one after futureMinMs.
  const startMs = time?.atMs ?? futureMinMs;
  const stored = { ...sched.stored, ...storedCommon(fields) } as { cron_expression?: string; interval?: number; timezone?: string };
  const firstMs = nextFireAtMs({
    type: 'recurrente', startAtMs: startMs, cronExpression: stored.cron_expression ?? null, intervalMs: stored.interval ?? null,
    timezone: stored.timezone ?? 'UTC', lastDateAtMs: null, maxRuns: null,
  }, startMs - 1);
  const lastDateMs = lastDateAfterMs === undefined || firstMs === null ? undefined : firstMs + lastDateAfterMs;
  const lastDate = lastDateMs === undefined ? fc.constant(undefined) : timeInput(lastDateMs);
  return lastDate.map((last) => ({
    body: {
      type: 'recurrente', ...(time === undefined ? {} : { timestamp: time.input }), ...sched.body, ...fields,
      ...(last === undefined ? {} : { last_date: last.input }), ...(maxRuns === undefined ? {} : { max_runs: maxRuns }),
    },
    expected: {
      ...defaults, retry: retryDefaults, type: 'recurrente', ...sched.stored, ...storedCommon(fields),
      timestamp: time === undefined ? null : iso(time.atMs),
      ...(last === undefined ? {} : { last_date: iso(last.atMs) }), ...(maxRuns === undefined ? {} : { max_runs: maxRuns }),
    },
  }));
}));

export const validCreate = fc.oneof(validUnico, validRecurrente);

/** A valid PATCH of a job of `type` (stored with a future start and no last_date), with the fields it sets. */
export function validPatch(type: 'unico' | 'recurrente'): fc.Arbitrary<ValidBody> {
  // A recurrente target may keep its cron schedule, which croner ends at the year 3000.
  const time = fc.option((type === 'unico' ? futureMs : cronFutureMs).chain(timeInput), { nil: undefined });
  const sched = type === 'recurrente' ? fc.option(schedule, { nil: undefined }) : fc.constant(undefined);
  return fc.tuple(time, sched, commonFields).filter(([t, s, f]) => t !== undefined || s !== undefined || Object.keys(f).length > 0)
    .map(([t, s, fields]) => ({
      body: { ...(t === undefined ? {} : { timestamp: t.input }), ...(s?.body ?? {}), ...fields },
      expected: {
        ...(t === undefined ? {} : { timestamp: iso(t.atMs) }), ...(s?.stored ?? {}), ...storedCommon(fields),
        // Setting one kind of schedule clears the other (a job switches kind in one PATCH).
        ...(s === undefined ? {} : 'interval' in s.stored ? { cron_expression: null } : { interval: null }),
      },
    }));
}

// ---------------------------------------------------------------------------
// Mutations: a valid body with one thing wrong

/** A placeholder swapped for raw JSON text after stringifying, so any nesting depth can be sent. */
const rawSlot = '\u0000raw\u0000';

function withField(body: Record<string, unknown>, field: string, value: unknown, raw?: string): string {
  const text = JSON.stringify({ ...body, [field]: raw === undefined ? value : rawSlot });
  return raw === undefined ? text : text.replace(JSON.stringify(rawSlot), raw);
}

function without(body: Record<string, unknown>, ...fields: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([k]) => !fields.includes(k)));
}

const integerBounds: Readonly<Record<string, readonly [number, number]>> = {
  timeout_ms: [1, 3_600_000], catchup_window_ms: [0, 365 * dayMs], jitter_ms: [0, dayMs],
  pause_after_failures: [0, 1_000_000], max_runs: [1, Number.MAX_SAFE_INTEGER],
};
const retryBounds: Readonly<Record<string, readonly [number, number]>> = {
  max_attempts: [1, 100], backoff_ms: [0, dayMs], max_backoff_ms: [0, dayMs], max_duration_ms: [1, 30 * dayMs],
};
/** The longest string each string field takes; `timestamp` and `interval` strings too. */
const stringMax: Readonly<Record<string, number>> = {
  id: 128, cron_expression: 256, timezone: 64, webhook_url: 2048, signing_secret: 1024, timestamp: 64, last_date: 64, interval: 64,
};

/** Values of another type that no schema coercion rescues: maps and lists of two for scalars, scalars for maps. */
function uncoercible(field: string): fc.Arbitrary<unknown> {
  return ['headers', 'tags', 'retry'].includes(field)
    ? fc.constantFrom<unknown>('text', 5, true, [1, 2], [{}, {}])
    : fc.constantFrom<unknown>({}, { a: 1 }, [1, 2], ['a', 'b'], [[]]);
}
/** Values of another type that a lenient schema may coerce; the property only asks for a clean answer. */
const coercible = fc.oneof(
  fc.constantFrom(true, false, null, 0, 1, -1, '', '1', 'true', 'null', ['x'], [7]), fc.double(), fc.string(),
);

const badCrons = [
  '61 * * * *', '* 24 * * *', '* * 32 * *', '* * * 13 *', '* * * * 8', '* * * *', '* * * * * * *', '@daily',
  '*/0 * * * *', '0 0 31 2 *', '0 0 30 2 *', 'a b c d e', '', '   ', '* * * * * *x', '1-2-3 * * * *', ',,, * * * *',
  '0 0 0 0 0', '60 * * * * *', '-1 * * * *',
] as const;
const cronChars = fc.string({ unit: fc.constantFrom(...'0123456789*/,-LW#? '.split('')), maxLength: 30 });
const badZones = [
  'Mars/Olympus', 'Europe/Madri', 'europe madrid', '../../etc/passwd', 'America/New_York\u0000', 'UTC+1', '+01:00',
  'GMT+25', 'x'.repeat(65), ' ', 'Local', 'Europe/',
] as const;
const badTimes = [
  '2030-02-30T00:00:00Z', '2030-13-01T00:00:00Z', '2030-01-01T24:00:00Z', '2030-01-01T00:60:00Z',
  '2030-01-01T00:00:60Z', '2030-01-01T00:00:00', 'yesterday', '', -1, '-1', 1e20, '10000-01-01T00:00:00Z',
  '0999-01-01T00:00:00Z', '2030-01-01T00:00:00+24:00', '2030-01-01T00:00:00+05:60', '1969-12-31T23:59:59Z',
  '9999-12-31T23:59:59-01:00', 'NaN', 'Infinity', '1e9', '2030-1-1T00:00:00Z', '2030-01-01T00:00:00.Z',
  '2030-01-01 00:00:00Z+', '1234567890123456', ' 2030-01-01T00:00:00Z', '2030-01-01T00:00:00Z\n',
] as const;
const badUrls = [
  'ftp://example.com', 'http://', 'javascript:alert(1)', 'http://user:pass@example.com/', 'not a url', '//example.com',
  'https://exa mple.com', 'http://[::1', 'file:///etc/passwd', `https://example.com/${'x'.repeat(3000)}`, 'mailto:a@b.c',
  'data:text/plain,hi', 'https://:80', 'http://ex ample.com', 'ws://example.com',
] as const;
const unicodeStrings = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
  fc.constantFrom('\u{1F600}', '\u202Eevil', 'a\u200Bb', '\uD800', '\uDFFF x', 'nul\u0000byte', 'Ω≈ç√∫', '\uFEFF', 'e\u0301'),
);

function nested(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

const stringFields = ['id', 'cron_expression', 'timezone', 'webhook_url', 'signing_secret', 'timestamp', 'method', 'delivery',
  'catchup', 'overlap'] as const;

/** One mutation of `base` (a valid body of its `type`), labelled, with whether the SPEC admits no reading of it. */
export function mutate(base: Record<string, unknown>, options: { readonly patch: boolean; readonly type: 'unico' | 'recurrente' }): fc.Arbitrary<Mutation> {
  const known = options.patch ? jobFieldNames.filter((f) => f !== 'id' && f !== 'type') : jobFieldNames;
  const m = (label: string, mustRefuse: boolean, text: string): Mutation => ({ label, mustRefuse, text });
  const isRecurrente = options.type === 'recurrente';
  const unicode = fc.tuple(fc.constantFrom(...known.filter((f) => typeof base[f] === 'string' || ['tags', 'headers', 'payload'].includes(f))), unicodeStrings)
    .map(([field, text]) => {
      const value = field === 'tags' ? { [text]: text } : field === 'headers' ? { k: text }
        : field === 'payload' ? { [text]: [text] } : text;
      const mutation = m(`unicode in ${field}`, field === 'id' && !/^[A-Za-z0-9._:-]{1,128}$/.test(text), withField(base, field, value));
      return ['tags', 'headers', 'payload'].includes(field) ? { ...mutation, readBack: { field, value } } : mutation;
    });
  const kinds: (fc.Arbitrary<Mutation> | fc.WeightedArbitrary<Mutation>)[] = [
    // Weighted up: text that reads back changed is the quietest way to lose data.
    { arbitrary: unicode, weight: 4 },
    fc.tuple(fc.string({ minLength: 1, maxLength: 30 }).filter((k) => !(known as readonly string[]).includes(k)), fc.jsonValue())
      .map(([key, value]) => m(`unknown field ${JSON.stringify(key)}`, true, withField(base, key, value))),
    fc.constantFrom(...known.filter((f) => f !== 'payload')).chain((field) => uncoercible(field).map((value) => [field, value] as const))
      .map(([field, value]) => m(`${field} of a wrong type`, true, withField(base, field, value))),
    fc.tuple(fc.constantFrom(...known.filter((f) => f !== 'payload')), coercible)
      .map(([field, value]) => m(`${field} = ${JSON.stringify(value)}`, false, withField(base, field, value))),
    fc.tuple(fc.constantFrom(...Object.keys(integerBounds)), fc.constantFrom('below', 'above', 'fraction', 'huge'))
      .filter(([field]) => field !== 'max_runs' || isRecurrente)
      .map(([field, how]) => {
        const [min, max] = integerBounds[field] ?? [0, 0];
        const value = how === 'below' ? min - 1 : how === 'above' ? max + 1 : how === 'fraction' ? min + 0.5 : 1e300;
        return m(`${field} ${how} its range`, true, withField(base, field, value));
      }),
    fc.tuple(fc.constantFrom(...Object.keys(retryBounds)), fc.constantFrom('below', 'above', 'fraction'))
      .map(([field, how]) => {
        const [min, max] = retryBounds[field] ?? [0, 0];
        const value = how === 'below' ? min - 1 : how === 'above' ? max + 1 : min + 0.5;
        return m(`retry.${field} ${how} its range`, true, withField(base, 'retry', { [field]: value }));
      }),
    fc.tuple(fc.constantFrom(...stringFields.filter((f) => (known as readonly string[]).includes(f))),
      fc.constantFrom(300, 5000, 100_000, 1_000_000))
      .map(([field, length]) => m(`${field} of ${length} characters`, length > (stringMax[field] ?? 0), withField(base, field, 'x'.repeat(length)))),
    fc.constantFrom('headers', 'tags').chain((field) => fc.constantFrom(300, 9000, 100_000).map((length) =>
      m(`${field} value of ${length} characters`, length > (field === 'tags' ? 256 : 8192), withField(base, field, { k: 'v'.repeat(length) })))),
    fc.constant(m('payload over MAX_PAYLOAD_BYTES', true, withField(base, 'payload', 'p'.repeat(100_000)))),
    fc.constantFrom<Record<string, string>>(
      { 'X-C': 'a\u0001b' }, { 'X-C': '€' }, { 'X-C': 'é' }, { 'X-C': ' padded' }, { 'X-C': 'a\u0000b' }, { Expect: '100-continue' },
      { Upgrade: 'websocket' }, { 'Keep-Alive': 'timeout=5' }, { Connection: 'close' }, { TE: 'trailers' }, { Host: 'example.org' },
      { 'User-Agent': 'mine' }, { 'X-Fire-Id': 'mine' }, { 'X-A': '1', 'x-a': '2' }, { 'Bad Name': 'x' }, { 'X:A': 'x' },
    ).map((h) => m(`headers ${JSON.stringify(h)}`, true, withField(base, 'headers', h))),

    fc.tuple(fc.constantFrom(65, 200, 5000, 100_000), fc.constantFrom<'array' | 'object'>('array', 'object'),
      fc.constantFrom('payload', 'headers', 'tags', 'retry', 'timestamp'))
      .map(([depth, kind, field]) => m(`${field} nested ${depth} deep`, true, withField(base, field, null, nested(depth, kind)))),
    fc.constantFrom(...badTimes).chain((value) => fc.constantFrom(...(isRecurrente ? ['timestamp', 'last_date'] : ['timestamp']))
      .map((field) => m(`${field} = ${JSON.stringify(value)}`, true, withField(base, field, value)))),
    fc.constantFrom(...badUrls).map((url) => m(`webhook_url = ${JSON.stringify(url.slice(0, 40))}`, true, withField(base, 'webhook_url', url))),
    fc.constantFrom(...badZones).map((zone) => m(`timezone = ${JSON.stringify(zone.slice(0, 40))}`, true, withField(base, 'timezone', zone))),
    fc.constantFrom(...badCrons).map((cron) => m(`cron_expression = ${JSON.stringify(cron)}`, true,
      withField(without(base, 'interval'), 'cron_expression', cron))),
    cronChars.map((cron) => m(`cron_expression = ${JSON.stringify(cron)}`, false,
      withField(without(base, 'interval'), 'cron_expression', cron))),
    fc.constant(m('retry.max_backoff_ms below retry.backoff_ms', true,
      withField(base, 'retry', { backoff_ms: 5000, max_backoff_ms: 4999 }))),
  ];
  if (!options.patch) {
    kinds.push(fc.constant(m('no type', true, JSON.stringify(without(base, 'type')))));
    kinds.push(fc.constant(m('type "weekly"', true, withField(base, 'type', 'weekly'))));
    kinds.push(fc.constantFrom('!', 'a b', 'x'.repeat(129), 'é', 'a/b', '').map((id) => m(`id ${JSON.stringify(id.slice(0, 20))}`, true, withField(base, 'id', id))));
    if (!isRecurrente) {
      kinds.push(fc.constant(m('unico without timestamp', true, JSON.stringify(without(base, 'timestamp')))));
      kinds.push(fc.constantFrom('cron_expression', 'interval', 'max_runs', 'last_date').map((field) =>
        m(`unico with ${field}`, true, withField(base, field, { cron_expression: '* * * * *', interval: '1h', max_runs: 3, last_date: '2031-01-01T00:00:00Z' }[field]))));
    } else {
      kinds.push(fc.constant(m('recurrente without a schedule', true, JSON.stringify(without(base, 'cron_expression', 'interval')))));
      kinds.push(fc.constant(m('recurrente with both schedules', true,
        JSON.stringify({ ...base, cron_expression: '0 * * * *', interval: '1h' }))));
      kinds.push(fc.constant(m('last_date not after timestamp', true,
        JSON.stringify({ ...base, timestamp: '2031-01-01T00:00:00Z', last_date: '2031-01-01T00:00:00Z' }))));
      kinds.push(fc.constantFrom('0s', '999ms', 0, 999, '1y', '1.5h', '-1h', 'h', '3651d', 1.5).map((value) =>
        m(`interval = ${JSON.stringify(value)}`, true, withField(without(base, 'cron_expression'), 'interval', value))));
    }
  } else {
    kinds.push(fc.constantFrom('id', 'type').map((field) => m(`PATCH of ${field}`, true, withField(base, field, 'x'))));
    kinds.push(fc.constant(m('empty PATCH', true, '{}')));
  }
  return fc.oneof(...kinds);
}
