// The jobs API of SPEC §2 on a real one-node cluster: every route, every 4xx, and that bad input changes nothing.
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import t from 'tap';
import * as limits from '../../src/config/limits.js';
import type { TestNode } from './single-node.js';
import { startSingleNode } from './single-node.js';

let solo: TestNode;
t.before(async () => {
  solo = await startSingleNode({ API_TOKENS: 'op-token,acme:acme-token,acme:reader:read', MAX_PAYLOAD_BYTES: '1KiB' });
});
t.teardown(async () => solo.stop());

const op = { authorization: 'Bearer op-token' };

async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = op) {
  const response = await solo.node.app.inject({
    method: method as 'GET', url, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.statusCode, body: response.body === '' ? null : response.json<Record<string, unknown>>() };
}

const unico = (id: string, extra: Record<string, unknown> = {}) =>
  ({ id, type: 'unico', timestamp: '2030-01-01T00:00:00Z', webhook_url: 'https://example.com/hook', ...extra });

t.test('create answers 201 with the stored job, the same body again 200, another body 409', async (t) => {
  const first = await call('POST', '/jobs', unico('a1', { payload: { n: 1 }, tags: { team: 'x' } }));
  t.equal(first.status, 201);
  t.match(first.body, { id: 'a1', type: 'unico', timestamp: '2030-01-01T00:00:00.000Z', next_run_at: '2030-01-01T00:00:00.000Z', status: 'pending', payload: { n: 1 } });
  const again = await call('POST', '/jobs', unico('a1', { tags: { team: 'x' }, payload: { n: 1 } }));
  t.equal(again.status, 200, 'same body, keys in another order');
  const other = await call('POST', '/jobs', unico('a1', { payload: { n: 2 } }));
  t.same([other.status, other.body?.['code']], [409, 'id_conflict']);
  t.match((await call('GET', '/jobs/a1')).body, { payload: { n: 1 } }, 'the conflict changed nothing');
});

t.test('a create without id gets a generated UUID; a recurrente gets its next run from its cron', async (t) => {
  const made = await call('POST', '/jobs', { type: 'unico', timestamp: 1_900_000_000 });
  t.equal(made.status, 201);
  t.match(made.body?.['id'], /^[0-9a-f-]{36}$/);
  const cron = await call('POST', '/jobs', {
    id: 'c1', type: 'recurrente', cron_expression: '0 9 * * *', timezone: 'Europe/Madrid', timestamp: '2030-06-01T00:00:00Z',
  });
  t.equal(cron.status, 201);
  t.equal(cron.body?.['next_run_at'], '2030-06-01T07:00:00.000Z', '09:00 in Madrid summer time');
  const schedule = await call('GET', '/jobs/c1/schedule?count=3');
  t.same(schedule.body, { fires: ['2030-06-01T07:00:00.000Z', '2030-06-02T07:00:00.000Z', '2030-06-03T07:00:00.000Z'] });
});

t.test('every kind of bad create gets its code and message and stores nothing', async (t) => {
  const before = (await call('GET', '/debug/cluster')).body?.['job_count'];
  const cases: [unknown, number, string, RegExp][] = [
    ['{"id": "bad", "type": ', 400, 'invalid_request', /JSON/i],
    [unico('u1', { colour: 'red' }), 400, 'invalid_request', /colour/],
    [{ id: 'r1', type: 'recurrente', cron_expression: '61 * * * *' }, 400, 'invalid_cron', /cron/i],
    [{ id: 'r2', type: 'recurrente', cron_expression: '* * * * *', timezone: 'Mars/Olympus' }, 400, 'invalid_timezone', /Mars\/Olympus/],
    [unico('u2', { timestamp: '2030-02-30T00:00:00Z' }), 400, 'invalid_time', /timestamp/],
    [unico('u3', { payload: { blob: 'x'.repeat(2000) } }), 413, 'payload_too_large', /payload/],
    [unico('u4', { webhook_url: 'ftp://example.com' }), 400, 'invalid_request', /webhook_url/],
    [{ id: 'u5', type: 'weekly' }, 400, 'invalid_request', /type/],
    [unico('bad id!'), 400, 'invalid_request', /id/],
  ];
  for (const [body, status, code, message] of cases) {
    const r = await call('POST', '/jobs', body);
    t.equal(r.status, status, `${code}: status`);
    t.equal(r.body?.['code'], code, `${JSON.stringify(body).slice(0, 60)}: code`);
    t.match(String(r.body?.['error']), message, `${code}: message says why`);
  }
  t.equal((await call('GET', '/debug/cluster')).body?.['job_count'], before, 'no job was stored');
});

t.test('tokens: none is 401, a read-only token cannot write, a tenant sees only its own jobs', async (t) => {
  t.same((await call('GET', '/jobs/a1', undefined, {})).status, 401);
  t.same((await call('GET', '/jobs/a1', undefined, { authorization: 'Bearer wrong' })).body?.['code'], 'unauthorized');
  t.equal((await call('GET', '/health', undefined, {})).status, 200, '/health needs no token');
  t.equal((await call('POST', '/jobs', unico('t1'), { authorization: 'Bearer reader' })).status, 403);
  t.equal((await call('POST', '/jobs', unico('t1'), { authorization: 'Bearer acme-token' })).status, 201);
  t.equal((await call('GET', '/jobs/t1', undefined, { authorization: 'Bearer reader' })).status, 200);
  t.equal((await call('GET', '/jobs/t1')).status, 404, 'the operator is tenant default: acme\'s job is not there');
  t.equal((await call('GET', '/debug/cluster', undefined, { authorization: 'Bearer acme-token' })).status, 403);
});

t.test('a state check of a single node agrees with itself; only an operator may ask for one', async (t) => {
  t.equal((await call('POST', '/cluster/check-state', undefined, { authorization: 'Bearer acme-token' })).status, 403);
  t.equal((await call('POST', '/cluster/check-state', undefined, { authorization: 'Bearer reader' })).status, 403);
  t.equal((await call('GET', '/debug/cluster')).body?.['state_check'], null, 'no check yet');
  const checked = await call('POST', '/cluster/check-state');
  t.equal(checked.status, 200);
  t.match(checked.body, { status: 'consistent', odd: [], members: [{ id: 'solo', state: 'ok', digest: /^[0-9a-f]{64}$/ }] });
  const again = await call('POST', '/cluster/check-state');
  t.ok((again.body?.['index'] as number) > (checked.body?.['index'] as number), 'each check is an entry of its own');
  t.match((await call('GET', '/debug/cluster')).body?.['state_check'], { index: again.body?.['index'], status: 'consistent' });
  // What a peer asking over the Raft port hears: the digest, or why there is none.
  const raft = async (path: string): Promise<unknown> => (await fetch(`http://127.0.0.1:${solo.node.raftPort}${path}`)).json();
  t.match(await raft(`/raft/state-digest/${String(again.body?.['index'])}`), { state: 'ok', digest: (again.body?.['members'] as { digest: string }[])[0]?.digest });
  t.match(await raft(`/raft/state-digest/${String(checked.body?.['index'] as number - 1)}`), { state: 'unknown', error: /applied no state check at/ });
  const startedAtMs = Date.now();
  t.match(await raft('/raft/state-digest/999999999?wait_ms=300'), { state: 'unknown', error: /applied only up to \d+ after 300 ms/ },
    'an index this node has not applied');
  t.ok(Date.now() - startedAtMs >= 290, 'after waiting as long as asked');
});

t.test('PATCH replaces the given fields whole and recomputes the next run; bad patches change nothing', async (t) => {
  await call('POST', '/jobs', unico('p1', { headers: { a: '1', b: '2' } }));
  const patched = await call('PATCH', '/jobs/p1', { headers: { c: '3' }, timestamp: '2031-01-01T00:00:00Z' });
  t.equal(patched.status, 200);
  t.same(patched.body?.['headers'], { c: '3' });
  t.equal(patched.body?.['next_run_at'], '2031-01-01T00:00:00.000Z');
  t.equal((await call('PATCH', '/jobs/p1', { type: 'recurrente' })).status, 400, 'type cannot change');
  t.equal((await call('PATCH', '/jobs/p1', { timestamp: 'yesterday' })).body?.['code'], 'invalid_time');
  t.equal((await call('PATCH', '/jobs/nope', { paused: true })).status, 404);
  t.same((await call('GET', '/jobs/p1')).body?.['headers'], { c: '3' });
});

t.test('pause, resume, cancel and delete', async (t) => {
  await call('POST', '/jobs', unico('s1'));
  t.match((await call('POST', '/jobs/s1/pause')).body, { status: 'paused', next_run_at: null });
  t.match((await call('POST', '/jobs/s1/resume')).body, { status: 'pending', next_run_at: '2030-01-01T00:00:00.000Z' });
  t.match((await call('POST', '/jobs/s1/cancel')).body, { status: 'cancelled', next_run_at: null });
  t.match((await call('GET', '/jobs/s1/status')).body, { status: 'cancelled', run_count: 0 });
  const trigger = await call('POST', '/jobs/s1/trigger');
  t.same([trigger.status, trigger.body?.['code']], [409, 'job_cancelled'], 'a cancelled unico will not fire (SPEC §2), not even by trigger');
  t.match(trigger.body?.['error'], /cancelled/);
  t.match((await call('GET', '/jobs/s1/status')).body, { status: 'cancelled', run_count: 0 }, 'the refused trigger queued nothing');
  t.equal((await call('DELETE', '/jobs/s1')).status, 204);
  t.equal((await call('DELETE', '/jobs/s1')).body?.['code'], 'job_not_found');
  t.equal((await call('GET', '/jobs/s1?consistency=strong')).status, 404);
});

t.test('list filters by type, status and tag and pages with a cursor', async (t) => {
  for (let i = 0; i < 7; i++) await call('POST', '/jobs', unico(`l${i}`, { tags: { batch: 'list', parity: String(i % 2) } }));
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 10; page++) {
    const r = await call('GET', `/jobs?tag=batch:list&limit=3${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
    const body = r.body as { jobs: { id: string }[]; next_cursor: string | null };
    seen.push(...body.jobs.map((j) => j.id));
    cursor = body.next_cursor;
    if (cursor === null) break;
  }
  t.same(seen, ['l0', 'l1', 'l2', 'l3', 'l4', 'l5', 'l6']);
  const odd = (await call('GET', '/jobs?tag=batch:list&tag=parity:1&type=unico&status=pending')).body as { jobs: { id: string }[] };
  t.same(odd.jobs.map((j) => j.id), ['l1', 'l3', 'l5']);
  t.equal((await call('GET', '/jobs?limit=5000')).status, 400);
  // A cursor is a next_cursor: a job id (or, for dead letters, a fire id). Any other string would read as a place in
  // the key order and silently page from there.
  for (const url of ['/jobs?cursor=%25ff%25fe', '/jobs?cursor=a%2Fb', '/jobs?cursor=', `/jobs?cursor=${'a'.repeat(129)}`,
    '/dead-letters?cursor=no-at-sign', '/dead-letters?cursor=j@12x']) {
    const r = await call('GET', url);
    t.same([r.status, r.body?.['code']], [400, 'invalid_request'], url);
    t.match(String(r.body?.['error']), /^querystring\.cursor must match pattern/, url);
  }
  t.equal((await call('GET', '/dead-letters?cursor=job-1@1700000000000')).status, 200, 'a fire id is a dead-letter cursor');
});

t.test('a body that is not JSON, or holds a key that could poison a prototype, is 400 saying which, and stores nothing', async (t) => {
  const before = ((await call('GET', '/jobs?limit=1000')).body as { jobs: unknown[] }).jobs.length;
  const broken = await call('POST', '/jobs', '{"id":"bad-json","type":"unico",}');
  t.same([broken.status, broken.body?.['code']], [400, 'invalid_request']);
  t.match(broken.body?.['error'], /^the body is not valid JSON: .*position/);
  const poisoned = await call('POST', '/jobs', '{"id":"proto","type":"unico","timestamp":"2030-01-01T00:00:00Z","payload":{"__proto__":{"admin":true}}}');
  t.same([poisoned.status, poisoned.body?.['code']], [400, 'invalid_request']);
  t.equal(poisoned.body?.['error'], "body.payload.__proto__: a key that can poison an object's prototype is refused");
  const batch = await call('POST', '/jobs/batch', '{"jobs":[{"constructor":{"prototype":{}},"type":"unico"}]}');
  t.same([batch.status, batch.body?.['error']], [400, "body.jobs[0].constructor.prototype: a key that can poison an object's prototype is refused"]);
  const empty = await solo.node.app.inject({ method: 'POST', url: '/jobs', headers: { ...op, 'content-type': 'application/json' } });
  t.same([empty.statusCode, empty.json()['error']], [400, 'the body is empty; it must be JSON']);
  t.equal(((await call('GET', '/jobs?limit=1000')).body as { jobs: unknown[] }).jobs.length, before, 'nothing stored');
  t.equal((await call('GET', '/jobs/proto')).status, 404);
});

t.test('query integers are decimal digits: hex, exponents, spaces and fractions are 400, naming the parameter', async (t) => {
  for (const url of ['/jobs?limit=0x10', '/jobs?limit=1e1', '/jobs?limit=%205', '/jobs?limit=10.0', '/dead-letters?limit=1e1',
    '/jobs/a1/schedule?count=0x2', '/jobs/a1/executions?limit=+3']) {
    const r = await call('GET', url);
    t.same([r.status, r.body?.['code']], [400, 'invalid_request'], url);
    t.match(String(r.body?.['error']), /^querystring\.(limit|count) must be a whole number in decimal digits/, url);
  }
  t.equal((await call('GET', '/jobs?limit=010')).status, 200, 'leading zeros are still decimal');
  t.equal((await call('GET', '/jobs/a1/schedule?count=2')).status, 200);
});

t.test('a batch answers one result per job in order and stores only the valid ones', async (t) => {
  const r = await call('POST', '/jobs/batch', { jobs: [unico('b1'), { id: 'b2', type: 'nope' }, unico('a1'), unico('b1')] });
  t.equal(r.status, 200);
  t.match(r.body, {
    results: [{ id: 'b1', status: 201 }, { id: 'b2', status: 400, code: 'invalid_request' }, { id: 'a1', status: 409, code: 'id_conflict' }, { id: 'b1', status: 200 }],
  });
  t.equal((await call('GET', '/jobs/b2')).status, 404);
  t.equal((await call('POST', '/jobs/batch', { jobs: [] })).status, 400);
});

t.test('a batch of 2,500 is proposed in entries of at most 1,000 jobs and answered in order', async (t) => {
  const before = solo.node.store.appliedIndex();
  const jobs: unknown[] = Array.from({ length: 2500 }, (_, i) => unico(`big-${i}`));
  jobs[1500] = { id: 'big-bad', type: 'nope' };
  jobs[2400] = unico('big-3');
  const r = await call('POST', '/jobs/batch', { jobs });
  t.equal(r.status, 200);
  const results = (r.body as { results: { id: string | null; status: number }[] }).results;
  t.equal(results.length, 2500);
  t.strictSame([results[0]?.status, results[1500]?.status, results[2400]?.status, results[2499]?.id], [201, 400, 200, 'big-2499']);
  t.equal(results.filter((x) => x.status === 201).length, 2498);
  t.equal(solo.node.store.appliedIndex() - before, 3, '2,499 valid jobs in three entries');
});

t.test('a batch of large jobs is split by bytes too: no entry beyond 8 MiB of jobs', async (t) => {
  const node = await startSingleNode();
  t.teardown(() => node.stop());
  // The new leader's own entries first (its term's no-op, the scheduler's start), so only the batch's are counted.
  const strong = await node.node.app.inject({ method: 'GET', url: '/jobs/none?consistency=strong' });
  t.equal(strong.statusCode, 404);
  const before = node.node.store.appliedIndex();
  const payload = { data: 'y'.repeat(50_000) };
  const r = await node.node.app.inject({
    method: 'POST', url: '/jobs/batch', payload: { jobs: Array.from({ length: 200 }, (_, i) => unico(`large-${i}`, { payload })) },
  });
  t.equal(r.statusCode, 200);
  t.equal(r.json<{ results: { status: number }[] }>().results.filter((x) => x.status === 201).length, 200);
  t.equal(node.node.store.appliedIndex() - before, 2, '200 jobs of 50 KB in two entries');
});

t.test("debug/cluster's memory counts new jobs' bytes in the log's entries and in both LevelDB memtables", async (t) => {
  const node = await startSingleNode();
  t.teardown(() => node.stop());
  const memory = async (): Promise<{ entries: number; raft: number; state: number }> => {
    const m = (await node.node.app.inject({ method: 'GET', url: '/debug/cluster' })).json<{ memory: Record<string, unknown> }>().memory;
    const leveldb = m['leveldb_bytes'] as { raft: number; state: number };
    return { entries: m['raft_log_entry_bytes'] as number, raft: leveldb.raft, state: leveldb.state };
  };
  const before = await memory();
  const payload = { data: 'z'.repeat(50_000) };
  const payloadBytes = 10 * payload.data.length;
  const r = await node.node.app.inject({
    method: 'POST', url: '/jobs/batch', payload: { jobs: Array.from({ length: 10 }, (_, i) => unico(`weighty-${i}`, { payload })) },
  });
  t.equal(r.statusCode, 200, r.body);
  const after = await memory();
  // A fresh node: far below the 16 MiB of entries kept and the memtables' 4 MiB, so nothing was let go in between.
  for (const part of ['entries', 'raft', 'state'] as const) {
    t.ok(after[part] - before[part] >= payloadBytes, `${part}: ${before[part]} → ${after[part]} bytes`);
  }
});

t.test('debug/cluster, health and ready describe the node', async (t) => {
  const debug = (await call('GET', '/debug/cluster')).body ?? {};
  t.match(debug, { node_id: 'solo', role: 'leader', leader_id: 'solo', scheduler: { slots: 0 } });
  for (const key of ['term', 'leader_addr', 'commit_index', 'applied_index', 'last_log_index', 'snapshot_index', 'peers', 'job_count']) {
    t.ok(key in debug, `has ${key}`);
  }
  const memory = debug['memory'] as Record<string, number>;
  t.ok(memory['rss_bytes']! > memory['heap_used_bytes']! && memory['heap_used_bytes']! > 0, 'memory: RSS above the heap in use');
  t.ok(Number.isSafeInteger(memory['array_buffers_bytes']), 'memory: array buffers counted');
  const anon = memory['rss_anon_bytes']!;
  const file = memory['rss_file_bytes']!;
  t.ok(anon > 0 && file > 0 && Math.abs(anon + file - memory['rss_bytes']!) < 16 * 1024 * 1024,
    'memory: anonymous and file-backed RSS add up to RSS');
  const spaces = (debug['memory'] as Record<string, unknown>)['heap_spaces_bytes'] as Record<string, number>;
  t.ok(spaces['old_space']! > 0 && spaces['new_space']! > 0, 'memory: V8 heap by space');
  // The node runs in this test's own process, so this checks that the field is there and says what that process
  // maps (src/api/allocator.ts's own tests check the reading; test/cluster/allocator.test.ts real nodes').
  const jemalloc = readFileSync('/proc/self/maps', 'utf8').includes('/libjemalloc.so');
  t.equal((debug['memory'] as Record<string, unknown>)['allocator'], jemalloc ? 'jemalloc' : 'glibc', 'memory: the allocator');
  t.match((await call('GET', '/health', undefined, {})).body, { status: 'ok', role: 'leader', node_id: 'solo', leader: 'solo' });
  t.equal((await call('GET', '/ready', undefined, {})).status, 200);
  t.equal((await call('GET', '/nowhere')).body?.['code'], 'not_found');
  const docs = await call('GET', '/docs/json');
  t.ok((docs.body?.['paths'] as Record<string, unknown>)['/jobs'], 'OpenAPI lists /jobs');
  // The UI's static files come through @fastify/static, whose dependencies declare Node 22: check they serve on 20.
  const ui = await solo.node.app.inject({ method: 'GET', url: '/docs' });
  t.equal(ui.statusCode, 200);
  t.match(ui.body, /swagger-ui/i);
  const css = await solo.node.app.inject({ method: 'GET', url: '/docs/static/swagger-ui.css' });
  t.equal(css.statusCode, 200, 'a static file of the UI');
});

t.test('a job with a 128-character id is reachable on every route; a fire id of such a job is too', async (t) => {
  const id = `${'y'.repeat(127)}z`;
  t.equal((await call('POST', '/jobs', unico(id))).status, 201);
  // fastify's default path parameter bound (100) answered 414 here for a job it had just created.
  t.equal((await call('GET', `/jobs/${id}`)).status, 200);
  t.equal((await call('GET', `/jobs/${id}/schedule?count=1`)).status, 200);
  t.equal((await call('POST', `/jobs/${id}/pause`)).status, 200);
  t.equal((await call('POST', `/jobs/${id}/resume`)).status, 200);
  t.equal((await call('PATCH', `/jobs/${id}`, { payload: { a: 1 } })).status, 200);
  const redrive = await call('POST', `/dead-letters/${id}@253402300799999/redrive`);
  t.equal(redrive.status, 404, 'a fire id of 145 characters reaches the route');
  t.match(redrive.body, { code: 'dead_letter_not_found' });
  t.equal((await call('DELETE', `/jobs/${id}`)).status, 204);
  t.equal((await call('GET', `/jobs/${id}`)).status, 404);
});

t.test('a request body that stops arriving is cut after requestReceiveMs, not held forever', async (t) => {
  // fastify sets no request timeout by default: a client that sent half a body held its connection for good.
  // Waiting out the real 30 s (and node's 30 s check interval) here would be slow: check the server's setting.
  t.equal(solo.node.app.server.requestTimeout, limits.requestReceiveMs);
  t.ok(limits.requestReceiveMs > 0 && limits.requestReceiveMs <= 60_000);
});

t.test('headers a fire could not send as written are 400 invalid_request at create, PATCH and in a batch', async (t) => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ 'X-C': 'a\u0001b' }, /header "X-C" has U\+0001 in its value/], [{ 'X-C': '€' }, /header "X-C" has U\+20AC in its value/],
    [{ Expect: '100-continue' }, /"Expect" is a connection or framing header/], [{ Upgrade: 'websocket' }, /"Upgrade" is a connection/],
    [{ 'Keep-Alive': 'timeout=5' }, /"Keep-Alive" is a connection/], [{ 'X-A': '1', 'x-a': '2' }, /"X-A" and "x-a" are one header/],
    [{ 'User-Agent': 'mine' }, /"User-Agent" is set by the node on every fire/],
  ];
  await call('POST', '/jobs', unico('h1', { headers: { 'X-Keep': 'me' } }));
  const before = (await call('GET', '/debug/cluster')).body?.['job_count'];
  for (const [headers, message] of bad) {
    for (const r of [await call('POST', '/jobs', unico('h2', { headers })), await call('PATCH', '/jobs/h1', { headers })]) {
      t.same([r.status, r.body?.['code']], [400, 'invalid_request'], JSON.stringify(headers));
      t.match(String(r.body?.['error']), message, JSON.stringify(headers));
    }
    const batch = await call('POST', '/jobs/batch', { jobs: [unico('h3', { headers })] });
    t.match(batch.body, { results: [{ id: 'h3', status: 400, code: 'invalid_request', error: message }] }, 'batch');
  }
  t.equal((await call('GET', '/debug/cluster')).body?.['job_count'], before, 'no job was stored');
  t.same((await call('GET', '/jobs/h1')).body?.['headers'], { 'X-Keep': 'me' }, 'no PATCH changed the job');
  const good = { Authorization: 'Bearer x', 'X-Custom': 'a b' };
  t.same((await call('POST', '/jobs', unico('h4', { headers: good }))).status, 201);
  t.same((await call('GET', '/jobs/h4')).body?.['headers'], good, 'ordinary headers read back as written');
});

/** Sends raw bytes to the client port and reads the answer until the node closes the connection. */
async function rawRequest(bytes: string): Promise<{ status: number; headers: string; body: Record<string, unknown> }> {
  const { port } = solo.node.app.server.address() as AddressInfo;
  const socket = connect(port, '127.0.0.1');
  socket.end(bytes);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString();
  const [head = '', body = ''] = text.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), headers: head, body: JSON.parse(body) as Record<string, unknown> };
}

t.test('refusals made before a route is reached answer {error, code} too', async (t) => {
  const auth = 'Authorization: Bearer op-token\r\n';
  const cases: [string, number, string, RegExp][] = [
    [`GET /jobs/${'a'.repeat(300)} HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`, 414, 'uri_too_long', /longer than 256 characters/],
    [`GET /jobs/%zz HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`, 400, 'invalid_request', /percent-encoding/],
    [`GET /jobs HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large', /headers are larger/],
    [`POST /jobs HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: abc\r\n\r\n{}`, 400, 'invalid_request', /Content-Length/],
    ['NOT HTTP AT ALL\r\n\r\n', 400, 'invalid_request', /not well-formed HTTP/],
  ];
  for (const [request, status, code, message] of cases) {
    const answer = await rawRequest(request);
    t.same([answer.status, answer.body['code']], [status, code], request.slice(0, 40));
    t.match(String(answer.body['error']), message);
    t.match(answer.headers, /content-type: application\/json/i);
  }
  t.equal((await call('GET', '/jobs?limit=1')).status, 200, 'the node still serves');
});
