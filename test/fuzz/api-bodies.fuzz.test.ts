// Fuzzes the job-writing routes of a real one-node cluster with arbitrary JSON and near-valid bodies (SPEC §2, §6):
// never a 5xx, every refusal a clear {error, code}, a refusal changes nothing, and a valid job reads back as written.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import { errorStatus } from '../../src/api/errors.js';
import type { TestNode } from '../api/single-node.js';
import { startSingleNode } from '../api/single-node.js';
import { fuzzOptions } from './fuzz-options.js';
import type { Mutation, ValidBody } from './job-bodies.js';
import { jobFieldNames, mutate, validCreate, validPatch, validRecurrente, validUnico } from './job-bodies.js';

let solo: TestNode;
t.before(async () => {
  solo = await startSingleNode({ MAX_PAYLOAD_BYTES: '8KiB' });
});
t.teardown(async () => solo.stop());

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly text: string;
}

async function send(method: 'GET' | 'POST' | 'PATCH', url: string, text?: string): Promise<Answer> {
  const response = await solo.node.app.inject({
    method, url, ...(text === undefined ? {} : { payload: text, headers: { 'content-type': 'application/json' } }),
  });
  let body: unknown = null;
  try {
    body = response.body === '' ? null : JSON.parse(response.body);
  } catch (_err) {
    // Not JSON: checkAnswer reports it when a JSON error was due.
  }
  return { status: response.statusCode, body, text: response.body };
}

let serial = 0;
/** A fresh job id per case, so no case sees another's job. */
const freshId = (): string => `fz${process.pid}-${serial++}`;
const jobCount = (): number => solo.node.store.jobCount();
const jobUrl = (id: string): string => `/jobs/${encodeURIComponent(id)}`;

/** Never a 5xx; a 4xx is exactly {error, code}, one readable line, its code the catalogue's for that status. */
function checkAnswer(r: Answer, what: string): void {
  assert.ok(r.status < 500, `${what}: answered ${r.status} ${r.text.slice(0, 300)}`);
  if (r.status < 400) return;
  const body = r.body as Record<string, unknown> | null;
  assert.ok(body !== null && typeof body === 'object', `${what}: ${r.status} without a JSON error: ${r.text.slice(0, 200)}`);
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error'], `${what}: error keys ${Object.keys(body).join(',')}`);
  const { error, code } = body;
  assert.ok(typeof error === 'string' && error.length > 0 && error.length <= 500 && !/[\r\n]/.test(error),
    `${what}: unclear error message ${JSON.stringify(error)?.slice(0, 600)}`);
  assert.ok(typeof code === 'string' && Object.hasOwn(errorStatus, code), `${what}: unknown code ${String(code)}`);
  assert.equal(errorStatus[code as keyof typeof errorStatus], r.status, `${what}: code ${code} with status ${r.status}`);
}

/** The SPEC fields of a job answer, as GET shows them (the write-only secret as `has_signing_secret`). */
const specFields = [...jobFieldNames.filter((f) => f !== 'signing_secret'), 'has_signing_secret'] as const;

function checkJob(job: unknown, valid: ValidBody, id: string | null, window: { fromMs: number; toMs: number }, what: string): void {
  const got = job as Record<string, unknown>;
  assert.ok(!('signing_secret' in got), `${what}: the secret was returned`);
  if (id !== null) assert.equal(got['id'], id, `${what}: id`);
  else assert.match(String(got['id']), /^[0-9a-f-]{36}$/, `${what}: generated id`);
  for (const [field, expected] of Object.entries(valid.expected)) {
    if (field === 'timestamp' && expected === null) {
      const atMs = Date.parse(String(got['timestamp']));
      assert.ok(atMs >= window.fromMs && atMs <= window.toMs, `${what}: default start ${String(got['timestamp'])} is not the create's time`);
    } else {
      assert.deepStrictEqual(got[field], expected, `${what}: field ${field}`);
    }
  }
  for (const field of ['created_at', 'updated_at']) {
    const atMs = Date.parse(String(got[field]));
    assert.ok(atMs >= window.fromMs && atMs <= window.toMs, `${what}: ${field} ${String(got[field])} outside the request`);
  }
  assert.equal(got['paused_reason'], got['paused'] === true ? 'requested' : null, `${what}: paused_reason`);
  // A recurrente may have ended at once (no fire before last_date) or, starting now, already be firing.
  const statuses = got['paused'] === true ? ['paused'] : got['type'] === 'unico' ? ['pending'] : ['pending', 'running', 'completed'];
  assert.ok(statuses.includes(String(got['status'])), `${what}: status ${String(got['status'])}`);
}

/** An accepted text reads back exactly as sent: nothing is silently replaced (a lone surrogate by U+FFFD). */
function checkReadBack(job: unknown, mutation: Mutation): void {
  if (mutation.readBack === undefined) return;
  const { field, value } = mutation.readBack;
  assert.deepStrictEqual((job as Record<string, unknown>)[field], value, `${mutation.label}: accepted, but ${field} reads back changed`);
}

/** A refused create wrote nothing: the count is the same and the job it named is not there. */
async function checkNothingCreated(countBefore: number, id: unknown, what: string): Promise<void> {
  assert.equal(jobCount(), countBefore, `${what}: the job count changed`);
  if (typeof id === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(id)) {
    assert.equal((await send('GET', jobUrl(id))).status, 404, `${what}: job ${id} exists after a refusal`);
  }
}

const withId = (v: ValidBody, id: string): ValidBody => ({ body: { id, ...v.body }, expected: v.expected });

/**
 * Mutations are generated around this id and get a fresh one when they run: fast-check replays a case while it
 * shrinks, and the replay must not find the job its first run created.
 */
const idSlot = 'fuzz-id-slot';
function withFreshId(text: string): { text: string; id: string } {
  const id = freshId();
  return { text: text.split(JSON.stringify(idSlot)).join(JSON.stringify(id)), id };
}

// ---------------------------------------------------------------------------

/** Any JSON text at all, or text that is not JSON, or a map of job field names to arbitrary values. */
const anyText: fc.Arbitrary<string> = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.dictionary(fc.constantFrom(...jobFieldNames, 'jobs'), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 8 }).map((v) => JSON.stringify(v)),
  fc.constantFrom('', '{', 'null', '[]', '{}', '{"jobs":null}', '\uFEFF{}', '{"type":"unico"}', '{"__proto__":{"x":1}}',
    '{"constructor":{"prototype":{"x":1}}}', '{"jobs":[{"__proto__":1}]}', '1e999', '"\\ud800"', '{"a":1,"a":2}'),
);

/** Every field of the target's create, as a PATCH that restores it. */
const targetPatch = JSON.stringify({
  timestamp: '2031-01-01T00:00:00Z', timezone: 'UTC', webhook_url: null, method: 'POST', headers: {}, payload: null,
  delivery: 'at_least_once', retry: {}, timeout_ms: 10_000, catchup: 'fire_once', catchup_window_ms: 86_400_000,
  overlap: 'allow', jitter_ms: 0, pause_after_failures: 0, signing_secret: null, paused: false, tags: {},
});

t.test('arbitrary bodies: never a 5xx, a refusal is clear and changes nothing', async (t) => {
  const target = freshId();
  const targetBody = JSON.stringify({ id: target, type: 'unico', timestamp: '2031-01-01T00:00:00Z' });
  assert.equal((await send('POST', '/jobs', targetBody)).status, 201);
  await fc.assert(fc.asyncProperty(anyText, fc.constantFrom('POST /jobs', 'PATCH', 'POST /jobs/batch'), async (text, route) => {
    const countBefore = jobCount();
    const jobBefore = (await send('GET', jobUrl(target))).body;
    const r = route === 'PATCH' ? await send('PATCH', jobUrl(target), text)
      : await send('POST', route === 'POST /jobs' ? '/jobs' : '/jobs/batch', text);
    checkAnswer(r, `${route} ${text.slice(0, 80)}`);
    if (r.status >= 400) {
      assert.equal(jobCount(), countBefore, `${route}: a refusal changed the job count`);
      assert.deepStrictEqual((await send('GET', jobUrl(target))).body, jobBefore, `${route}: a refusal changed the job`);
    } else if (route === 'PATCH') {
      // An accepted change: put the target back as it was, so the next case compares against a known job.
      assert.equal((await send('PATCH', jobUrl(target), targetPatch)).status, 200);
    }
  }), fuzzOptions(300));
  t.pass('arbitrary bodies handled');
});

t.test('valid creates answer 201 and read back field for field, defaults filled in; the same create again is 200', async (t) => {
  await fc.assert(fc.asyncProperty(validCreate, fc.boolean(), async (valid, giveId) => {
    const id = giveId ? freshId() : null;
    const v = id === null ? valid : withId(valid, id);
    const fromMs = Date.now();
    const created = await send('POST', '/jobs', JSON.stringify(v.body));
    const window = { fromMs, toMs: Date.now() };
    assert.equal(created.status, 201, `create ${JSON.stringify(v.body).slice(0, 300)}: ${created.text.slice(0, 300)}`);
    checkJob(created.body, v, id, window, 'create answer');
    const jobId = String((created.body as { id: unknown }).id);
    const read = await send('GET', jobUrl(jobId));
    checkJob(read.body, v, id, window, 'GET');
    if (id !== null) {
      const again = await send('POST', '/jobs', JSON.stringify(v.body));
      assert.equal(again.status, 200, `same create again: ${again.text.slice(0, 200)}`);
      assert.deepStrictEqual(again.body, read.body, 'same create again answers the stored job');
    }
  }), fuzzOptions(150));
  t.pass('valid creates round-trip');
});

t.test('near-valid creates (one field wrong): never a 5xx; a refusal is clear and creates nothing', async (t) => {
  const cases = fc.oneof(validUnico.map((v) => ({ v, type: 'unico' as const })), validRecurrente.map((v) => ({ v, type: 'recurrente' as const })))
    .chain(({ v, type }) => {
      return mutate({ id: idSlot, ...v.body }, { patch: false, type });
    });
  await fc.assert(fc.asyncProperty(cases, async (mutation) => {
    const countBefore = jobCount();
    const { text, id } = withFreshId(mutation.text);
    const r = await send('POST', '/jobs', text);
    checkAnswer(r, `create with ${mutation.label}`);
    if (mutation.mustRefuse) assert.ok(r.status >= 400, `create with ${mutation.label} was accepted: ${r.text.slice(0, 300)}`);
    if (r.status >= 400) {
      await checkNothingCreated(countBefore, id, `create with ${mutation.label}`);
    } else {
      const read = await send('GET', jobUrl(String((r.body as { id: unknown }).id)));
      assert.equal(read.status, 200, `create with ${mutation.label}: ${r.status} but not stored`);
      checkReadBack(read.body, mutation);
    }
  }), fuzzOptions(500));
  t.pass('near-valid creates handled');
});

// ---------------------------------------------------------------------------
// PATCH

/** Jobs a PATCH may change freely: starts in the future, no last_date or max_runs to collide with. */
function targetBody(type: 'unico' | 'recurrente', id: string): string {
  return JSON.stringify(type === 'unico'
    ? { id, type, timestamp: '2031-01-01T00:00:00Z', tags: { keep: 'me' } }
    : { id, type, timestamp: '2031-01-01T00:00:00Z', cron_expression: '0 9 * * *', tags: { keep: 'me' } });
}

const patchTypes = fc.constantFrom('unico' as const, 'recurrente' as const);

t.test('valid patches answer 200; each given field reads back as given, the others unchanged', async (t) => {
  const cases = patchTypes.chain((type) => validPatch(type).map((patch) => ({ type, patch })));
  await fc.assert(fc.asyncProperty(cases, async ({ type, patch }) => {
    const id = freshId();
    assert.equal((await send('POST', '/jobs', targetBody(type, id))).status, 201);
    const before = (await send('GET', jobUrl(id))).body as Record<string, unknown>;
    const r = await send('PATCH', jobUrl(id), JSON.stringify(patch.body));
    assert.equal(r.status, 200, `PATCH ${JSON.stringify(patch.body).slice(0, 300)}: ${r.text.slice(0, 300)}`);
    const after = (await send('GET', jobUrl(id))).body as Record<string, unknown>;
    for (const field of specFields) {
      const expected = field in patch.expected ? patch.expected[field] : before[field];
      assert.deepStrictEqual(after[field], expected, `PATCH ${type}: field ${field}`);
    }
    assert.equal(after['status'], after['paused'] === true ? 'paused' : 'pending', 'status follows paused');
    if (type === 'unico') assert.equal(after['next_run_at'], after['paused'] === true ? null : after['timestamp'], 'next run');
  }), fuzzOptions(120));
  t.pass('valid patches round-trip');
});

t.test('near-valid patches: never a 5xx; a refused PATCH leaves the job exactly as it was', async (t) => {
  const cases = patchTypes.chain((type) => validPatch(type).chain((patch) =>
    mutate(patch.body, { patch: true, type }).map((mutation) => ({ type, mutation }))));
  await fc.assert(fc.asyncProperty(cases, async ({ type, mutation }) => {
    const id = freshId();
    assert.equal((await send('POST', '/jobs', targetBody(type, id))).status, 201);
    const before = (await send('GET', jobUrl(id))).body;
    const r = await send('PATCH', jobUrl(id), mutation.text);
    checkAnswer(r, `PATCH ${type} with ${mutation.label}`);
    if (mutation.mustRefuse) assert.ok(r.status >= 400, `PATCH ${type} with ${mutation.label} was accepted: ${r.text.slice(0, 300)}`);
    const after = (await send('GET', jobUrl(id))).body;
    if (r.status >= 400) assert.deepStrictEqual(after, before, `PATCH with ${mutation.label} changed the job`);
    else checkReadBack(after, mutation);
  }), fuzzOptions(400));
  t.pass('near-valid patches handled');
});

// ---------------------------------------------------------------------------
// Batches

type BatchItem = { kind: 'valid'; v: ValidBody } | { kind: 'mutated'; mutation: Mutation };

const batchItem: fc.Arbitrary<BatchItem> = fc.oneof(
  validCreate.map((v): BatchItem => ({ kind: 'valid', v })),
  fc.oneof(validUnico.map((v) => ({ v, type: 'unico' as const })), validRecurrente.map((v) => ({ v, type: 'recurrente' as const })))
    .chain(({ v, type }) => mutate({ id: idSlot, ...v.body }, { patch: false, type }))
    .map((mutation): BatchItem => ({ kind: 'mutated', mutation })),
);

/** The item's JSON text with a fresh id, and for a valid one what its job must read back as. */
function itemToSend(item: BatchItem): { text: string; id: string; valid: ValidBody | null } {
  if (item.kind === 'mutated') return { ...withFreshId(item.mutation.text), valid: null };
  const id = freshId();
  const valid = withId(item.v, id);
  return { text: JSON.stringify(valid.body), id, valid };
}

t.test('batches: one result per job in order; refused jobs are not written, valid ones read back as given', async (t) => {
  await fc.assert(fc.asyncProperty(fc.array(batchItem, { minLength: 1, maxLength: 12 }), async (items) => {
    const countBefore = jobCount();
    const sent = items.map(itemToSend);
    const fromMs = Date.now();
    const r = await send('POST', '/jobs/batch', `{"jobs":[${sent.map((s) => s.text).join(',')}]}`);
    const window = { fromMs, toMs: Date.now() };
    checkAnswer(r, 'batch');
    // A prototype-poisoning key anywhere in a body refuses the whole body (docs/errors.md, `invalid_request`), so a
    // mutated job can hold one (an unknown field's value, say): then the batch is a 400 naming that job, and nothing
    // of it is written.
    const poisoned = r.status === 400 ? /^body\.jobs\[(\d+)\].*: a key that can poison an object's prototype is refused$/
      .exec(String((r.body as { error?: unknown }).error)) : null;
    if (poisoned !== null) {
      const item = items[Number(poisoned[1])];
      assert.ok(item?.kind === 'mutated' && /"(?:__proto__|constructor)"/.test(item.mutation.text),
        `batch refused for job ${poisoned[1]}, which holds no poisoning key: ${r.text.slice(0, 300)}`);
      assert.equal(jobCount(), countBefore, 'a batch refused as a whole wrote nothing');
      return;
    }
    assert.equal(r.status, 200, `batch answered ${r.status}: ${r.text.slice(0, 300)}`);
    const results = (r.body as { results: Record<string, unknown>[] }).results;
    assert.equal(results.length, items.length, 'one result per job');
    let created = 0;
    for (const [i, item] of items.entries()) {
      const result = results[i] ?? {};
      const { id, valid } = sent[i] ?? { id: '', valid: null };
      const what = item.kind === 'valid' ? `batch job ${i} (valid)` : `batch job ${i} (${item.mutation.label})`;
      const status = Number(result['status']);
      if (status >= 400) {
        checkAnswer({ status, body: { error: result['error'], code: result['code'] }, text: JSON.stringify(result) }, what);
        assert.notEqual(item.kind, 'valid', `${what} was refused: ${JSON.stringify(result)}`);
        assert.equal((await send('GET', jobUrl(id))).status, 404, `${what}: refused but stored`);
        continue;
      }
      assert.equal(status, 201, `${what}: ${JSON.stringify(result)}`);
      assert.ok(item.kind === 'valid' || !item.mutation.mustRefuse, `${what} was accepted`);
      created++;
      const read = await send('GET', jobUrl(String(result['id'])));
      assert.equal(read.status, 200, `${what}: 201 but not stored`);
      if (valid !== null) {
        assert.equal(result['id'], id, `${what}: result id`);
        checkJob(read.body, valid, id, window, what);
      }
    }
    assert.equal(jobCount(), countBefore + created, 'the job count grew by the jobs created');
  }), fuzzOptions(60));
  t.pass('batches handled');
});

type OuterMutation = (jobs: readonly string[]) => string;
const outerMutations = fc.constantFrom<OuterMutation>(
  () => '{"jobs":[]}',
  (jobs) => `{"jobs":[${jobs.join(',')}],"extra":1}`,
  (jobs) => `{"jobs":[${jobs.join(',')},5]}`,
  (jobs) => `{"jobs":[${jobs.join(',')},null]}`,
  (jobs) => `{"jobs":[${jobs.join(',')},[1]]}`,
  (jobs) => `{"jobs":[${jobs.join(',')},"x"]}`,
  (jobs) => `{"jobs":[${jobs.join(',')}]`,
  (jobs) => `{"jobs":${jobs[0] ?? '{}'}}`,
  (jobs) => `{"jobs":[${[...jobs, ...new Array<string>(10_001 - jobs.length).fill('{}')].join(',')}]}`,
  (jobs) => `[${jobs.join(',')}]`,
  (jobs) => `{"job":[${jobs.join(',')}]}`,
);

t.test('a batch refused as a whole writes none of its jobs', async (t) => {
  await fc.assert(fc.asyncProperty(fc.array(validCreate, { minLength: 1, maxLength: 5 }), outerMutations, async (valid, outer) => {
    const countBefore = jobCount();
    const jobs = valid.map((v) => withId(v, freshId()));
    const r = await send('POST', '/jobs/batch', outer(jobs.map((j) => JSON.stringify(j.body))));
    checkAnswer(r, 'mutated batch');
    assert.ok(r.status >= 400, `a malformed batch was accepted: ${r.text.slice(0, 200)}`);
    for (const job of jobs) await checkNothingCreated(countBefore, job.body['id'], 'refused batch');
  }), fuzzOptions(40));
  t.pass('refused batches wrote nothing');
});
