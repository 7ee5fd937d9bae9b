// Every checker of the fault suite on small synthetic histories, no processes: each passes a good history and
// catches a bad one, so a green fault run means something.
import t from 'tap';
import {
  checkConvergence, checkCrashes, checkFinalStates, checkFires, checkLeaderOnly, checkLinearizability, checkStateDigests,
  finalStateAllowed,
  maxUnavailabilityMs, scheduledBetween, toLinearizabilityOps,
} from './checks.js';
import type { ExitRecord } from './fault-cluster.js';
import { classify, excuseStalePatch404, type FireJob, type FireReceipt, type OpKind, type OpRecord, type Outcome, parseUserAgent } from './history.js';
import type { HealthSample } from './observer.js';

let nextClient = 0;
function op(f: OpKind, call: number, ret: number, outcome: Outcome, extra: Partial<OpRecord> = {}): OpRecord {
  return { client: nextClient++, key: 'k', f, v: null, via: 'n1', call, ret, outcome, status: null, detail: '', ...extra };
}
const create = (v: string, call: number, ret: number, outcome: Outcome = 'ok', extra: Partial<OpRecord> = {}): OpRecord =>
  op('create', call, ret, outcome, { v, ...extra });
const patch = (v: string, call: number, ret: number, outcome: Outcome = 'ok', extra: Partial<OpRecord> = {}): OpRecord =>
  op('patch', call, ret, outcome, { v, ...extra });
const del = (call: number, ret: number, outcome: Outcome = 'ok', extra: Partial<OpRecord> = {}): OpRecord => op('delete', call, ret, outcome, extra);
const read = (value: string | null, call: number, ret: number): OpRecord => op('read', call, ret, 'ok', { value });

t.test('classify: definite refusals, no_leader, and everything else unknown', async (t) => {
  t.match(classify('create', { status: 201, body: {} }), { outcome: 'ok' });
  t.match(classify('create', { status: 409, body: { code: 'id_conflict' } }), { outcome: 'fail', reason: 'exists' });
  t.match(classify('patch', { status: 404, body: { code: 'job_not_found' } }), { outcome: 'fail', reason: 'not_found' });
  t.match(classify('read', { status: 404, body: { code: 'job_not_found' } }), { outcome: 'ok', value: null });
  t.match(classify('read', { status: 200, body: { payload: { v: 'x' } } }), { outcome: 'ok', value: 'x' });
  t.match(classify('delete', { status: 503, body: { code: 'no_leader' } }), { outcome: 'fail', reason: 'not_applied' });
  t.match(classify('delete', { status: 503, body: '<html>' }), { outcome: 'unknown' }, 'a 503 without the code may be a proxy');
  t.match(classify('patch', { status: 504, body: { code: 'outcome_unknown' } }), { outcome: 'unknown' });
  t.match(classify('patch', { status: 502, body: '<html>' }), { outcome: 'unknown' });
  t.match(classify('patch', { error: 'ECONNREFUSED: refused', neverSent: true }), { outcome: 'fail', reason: 'not_applied' });
  t.match(classify('patch', { error: 'TimeoutError: timed out', neverSent: false }), { outcome: 'unknown' });
  t.same(parseUserAgent('scheduled-db (n2; term 14)'), { node: 'n2', term: 14 });
  t.same(parseUserAgent('undici'), { node: null, term: null });
});

t.test('final state: acknowledged writes survive, nothing appears from nowhere', async (t) => {
  t.ok(finalStateAllowed([create('a', 0, 10), patch('b', 20, 30)], 'b').ok, 'the last acknowledged write');
  t.ok(finalStateAllowed([create('a', 0, 10), patch('b', 20, 30, 'unknown')], 'a').ok, 'an unknown patch may not have applied');
  t.ok(finalStateAllowed([create('a', 0, 10), patch('b', 20, 30, 'unknown')], 'b').ok, '... or may have');
  t.ok(finalStateAllowed([create('a', 0, 50), patch('b', 20, 30)], 'a').ok, 'overlapping writes go either way');
  t.ok(finalStateAllowed([create('a', 0, 10), del(20, 30)], null).ok, 'deleted');
  t.ok(finalStateAllowed([], null).ok, 'never created');

  const lost = finalStateAllowed([create('a', 0, 10), patch('b', 20, 30)], 'a');
  t.notOk(lost.ok, 'an acknowledged patch after the create cannot be lost');
  t.notOk(finalStateAllowed([create('a', 0, 10), del(20, 30)], 'a').ok, 'an acknowledged delete cannot be undone');
  t.notOk(finalStateAllowed([create('a', 0, 10)], null).ok, 'an acknowledged create cannot vanish');
  t.notOk(finalStateAllowed([create('a', 0, 10), del(20, 30), create('c', 40, 50)], null).ok, 'nor a re-create after a delete');
  t.notOk(finalStateAllowed([create('a', 0, 10)], 'zz').ok, 'a version nobody wrote is a phantom');
  t.notOk(finalStateAllowed([create('a', 0, 10), patch('b', 20, 30, 'fail', { reason: 'not_applied' })], 'b').ok,
    'a write refused with 503 no_leader must not apply');

  const violations = checkFinalStates([create('a', 0, 10)], new Map([['k', new Map([['n1', 'a'], ['n2', 'a'], ['n3', null]])]]));
  t.ok(violations.some((v) => v.message.includes('disagree')), 'nodes that disagree are reported');
  t.ok(violations.some((v) => v.message.includes('lost write')), 'and the absent node is a lost write');
  t.same(checkFinalStates([create('a', 0, 10)], new Map([['k', new Map([['n1', 'a'], ['n2', 'a']])]])), []);
});

t.test('convergence: applied indexes and job lists must match', async (t) => {
  const jobs = [{ id: 'a', payload: { v: 1 }, status: 'pending' }];
  t.same(checkConvergence(new Map([['n1', 7], ['n2', 7]]), new Map([['n1', jobs], ['n2', [{ status: 'pending', payload: { v: 1 }, id: 'a' }]]])), [],
    'equal jobs in another field order');
  t.equal(checkConvergence(new Map([['n1', 7], ['n2', 6]]), new Map([['n1', jobs], ['n2', jobs]])).length, 1, 'an index behind');
  t.equal(checkConvergence(new Map([['n1', 7], ['n2', 7]]), new Map([['n1', jobs], ['n2', [{ ...jobs[0]!, status: 'paused' }]]])).length, 1,
    'a job in another state');
  t.equal(checkConvergence(new Map([['n1', 7], ['n2', 7]]), new Map([['n1', jobs], ['n2', []]])).length, 1, 'a job missing');
});

t.test("convergence: the cluster's own state check must find every member consistent", async (t) => {
  t.same(checkStateDigests({ status: 'consistent', members: [] }), []);
  t.match(checkStateDigests({ status: 'diverged', members: [{ id: 'n2' }] }), [{ check: 'convergence', message: /diverged: \[\{"id":"n2"\}\]/ }]);
  t.match(checkStateDigests({ status: 'incomplete' }), [{ check: 'convergence', message: /incomplete/ }]);
  t.match(checkStateDigests('timed out'), [{ check: 'convergence', message: /did not run: timed out/ }]);
});

t.test('linearizability: stale reads and lost writes are caught, concurrency is allowed', async (t) => {
  const good = [create('a', 0, 10), read('a', 12, 14), patch('b', 20, 40), read('a', 25, 30), read('b', 41, 45), del(50, 60), read(null, 61, 62)];
  t.same(checkLinearizability(good, 5000).violations, []);

  const stale = [create('a', 0, 10), patch('b', 20, 30), read('a', 40, 50)];
  const verdict = checkLinearizability(stale, 5000);
  t.equal(verdict.violations.length, 1, 'a read of an overwritten version after the overwrite was acknowledged');
  t.match(verdict.violations[0]?.message, /not linearizable/);

  t.equal(checkLinearizability([create('a', 0, 10), op('patch', 20, 30, 'fail', { v: 'b', reason: 'not_found' })], 5000).violations.length, 1,
    'a 404 for a job whose create was acknowledged before');
  t.equal(checkLinearizability([op('pause', 0, 10, 'ok')], 5000).violations.length, 1, 'a pause acknowledged on a job that never existed');
  t.same(checkLinearizability([create('a', 0, 10), op('pause', 20, 30, 'ok'), op('resume', 40, 50, 'fail', { reason: 'not_found' })], 5000).violations.length, 1,
    'a resume refused as not found while the job exists');
  t.same(checkLinearizability([create('a', 0, 10, 'unknown'), read('a', 100, 110), read('a', 120, 130)], 5000).violations, [],
    'an unknown create may apply');
  t.equal(checkLinearizability([create('a', 0, 10, 'fail', { reason: 'not_applied' }), read('a', 100, 110)], 5000).violations.length, 1,
    'a create refused with no_leader must not apply');
  t.equal(toLinearizabilityOps([op('read', 0, 1, 'unknown'), create('a', 0, 1, 'unknown')]).length, 1, 'unknown reads are dropped');
  const stalePatch = [create('a', 0, 10), op('patch', 20, 30, 'fail', { v: 'b', reason: 'not_found' }), read('a', 40, 50)];
  t.equal(checkLinearizability(stalePatch, 5000).violations.length, 1, 'a PATCH 404 from a stale follower is caught');
  t.same(checkLinearizability(stalePatch.map(excuseStalePatch404), 5000).violations, [], 'and looked past only when excused');
  t.equal(checkLinearizability([create('a', 0, 10), patch('b', 20, 30, 'fail', { reason: 'not_found' }), read('b', 40, 50)].map(excuseStalePatch404), 5000)
    .violations.length, 1, 'an excused PATCH 404 still must not apply');
  t.equal(toLinearizabilityOps([create('a', 0, 1, 'unknown')])[0]?.ret, Infinity, 'unknown writes stay open');
});

function unico(id: string, atMs: number, delivery: FireJob['delivery'], deletes: OpRecord[] = []): FireJob {
  return { id, schedule: { kind: 'unico', atMs, everyMs: 0 }, delivery, createdAtMs: 0, deletes };
}
function receipt(jobId: string, scheduledMs: number, atMs: number, node = 'n1', term = 2): FireReceipt {
  return { atMs, jobId, fireId: `${jobId}@${scheduledMs}`, attempt: 1, node, term };
}
const fireOptions = { untilMs: 100_000, endMarginMs: 2000, slackMs: 100, earlyMs: 20 };

t.test('fires: lost, doubled at most once, early, after delete, off schedule', async (t) => {
  const jobs = [unico('alo', 5000, 'at_least_once'), unico('amo', 6000, 'at_most_once')];
  const fine = checkFires(jobs, [receipt('alo', 5000, 5003), receipt('alo', 5000, 7000), receipt('amo', 6000, 6001)], new Map(), fireOptions);
  t.same(fine.violations, [], 'an at_least_once fire may come twice with its fire id');
  t.equal(fine.stats.dups, 1);

  const lost = checkFires(jobs, [receipt('amo', 6000, 6001)], new Map(), fireOptions);
  t.equal(lost.stats.lost, 1, 'an at_least_once fire never received is lost');
  const amoLost = checkFires(jobs, [receipt('alo', 5000, 5001)], new Map(), fireOptions);
  t.equal(amoLost.stats.lost, 1, 'an at_most_once fire never received and not recorded unknown is lost');
  const amoUnknown = checkFires(jobs, [receipt('alo', 5000, 5001)], new Map([['amo', [{ fire_id: 'amo@6000', status: 'unknown' }]]]), fireOptions);
  t.same(amoUnknown.violations, [], '... but not when its execution says unknown');
  t.equal(amoUnknown.stats.unknown, 1);

  const twice = checkFires(jobs, [receipt('alo', 5000, 5001), receipt('amo', 6000, 6001), receipt('amo', 6000, 7500)], new Map(), fireOptions);
  t.equal(twice.stats.amoDups, 1, 'an at_most_once fire received twice');
  t.equal(checkFires(jobs, [receipt('alo', 5000, 4900), receipt('amo', 6000, 6001)], new Map(), fireOptions).violations.length, 1, 'early');
  t.equal(checkFires(jobs, [receipt('alo', 5000, 5001), receipt('alo', 5500, 5501), receipt('amo', 6000, 6001)], new Map(), fireOptions).violations.length, 1,
    'a fire id off the schedule');

  const deleted = [unico('gone', 5000, 'at_least_once', [del(4000, 4100)])];
  t.same(checkFires(deleted, [], new Map(), fireOptions).violations, [], 'a job deleted before its time need not fire');
  t.equal(checkFires(deleted, [receipt('gone', 5000, 5001)], new Map(), fireOptions).violations.length, 1, 'and must not fire after the delete');
  const refusedDelete = [unico('stays', 5000, 'at_least_once', [del(4000, 4100, 'fail', { reason: 'not_applied' })])];
  t.equal(checkFires(refusedDelete, [], new Map(), fireOptions).stats.lost, 1, 'a delete refused with no_leader does not excuse a lost fire');
});

t.test('fires: a recurring job fires every second it existed', async (t) => {
  const every: FireJob = { id: 'cron', schedule: { kind: 'every_second', atMs: 0, everyMs: 0 }, delivery: 'at_least_once', createdAtMs: 1500, deletes: [del(9000, 9050)] };
  t.same(scheduledBetween(every, 1500, 7000), [2000, 3000, 4000, 5000, 6000, 7000]);
  const all = [2000, 3000, 4000, 5000, 6000, 7000].map((s) => receipt('cron', s, s + 3));
  t.same(checkFires([every], all, new Map(), fireOptions).violations, []);
  const gap = all.filter((r) => r.fireId !== 'cron@4000');
  t.equal(checkFires([every], gap, new Map(), fireOptions).stats.lost, 1, 'a missing second');
  const interval: FireJob = { id: 'iv', schedule: { kind: 'interval', atMs: 1234, everyMs: 1000 }, delivery: 'at_most_once', createdAtMs: 1300, deletes: [del(5000, 5010)] };
  t.same(scheduledBetween(interval, 1300, 3000), [2234]);
});

t.test('leader-only: no fire of a term after a later term had another leader', async (t) => {
  const health: HealthSample[] = [
    { atMs: 1000, node: 'n1', role: 'leader', leader: 'n1', term: 2 },
    { atMs: 5000, node: 'n2', role: 'leader', leader: 'n2', term: 3 },
  ];
  t.same(checkLeaderOnly(health, [receipt('j', 4000, 4990, 'n1', 2), receipt('j', 6000, 6000, 'n2', 3)], 100), []);
  t.same(checkLeaderOnly(health, [receipt('j', 4000, 5050, 'n1', 2)], 100), [], 'within the in-flight slack');
  t.equal(checkLeaderOnly(health, [receipt('j', 4000, 5400, 'n1', 2)], 100).length, 1, 'the deposed leader fired late');
  t.equal(checkLeaderOnly(health, [receipt('j', 6000, 6000, 'n1', 3)], 100).length, 1, 'a fire in a term another node led');
  t.equal(checkLeaderOnly([...health, { atMs: 5100, node: 'n3', role: 'follower', leader: 'n3', term: 3 }], [], 100).length, 1,
    'two leaders of one term');
  t.equal(checkLeaderOnly([], [{ ...receipt('j', 1, 1), node: null, term: null }], 100).length, 1, 'a fire that does not say who sent it');
});

t.test('crashes: exits nobody asked for, and alarming log lines', async (t) => {
  const exit = (expected: boolean): ExitRecord => ({ id: 'n1', pid: 1, code: 1, signal: null, atMs: 1, expected });
  t.same(checkCrashes([exit(true)], new Map([['n1', '{"level":30,"msg":"role changed"}']])), []);
  t.equal(checkCrashes([exit(false)], new Map()).length, 1);
  t.equal(checkCrashes([], new Map([['n1', '{"level":60,"msg":"invariant broken while serving a request"}']])).length, 1);
  t.equal(checkCrashes([], new Map([['n1', 'Uncaught AssertionError [ERR_ASSERTION]: x']])).length, 1);
});

t.test('max unavailability is the longest stretch without an acknowledged write', async (t) => {
  t.equal(maxUnavailabilityMs([create('a', 0, 100), patch('b', 100, 1100), read('b', 1200, 4000)], 0, 1500), 1000);
});
