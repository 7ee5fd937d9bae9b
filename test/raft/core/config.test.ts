// resolveConfig: the defaults it fills in and each cross-check it enforces, on both sides of its bound.
import t from 'tap';
import { resolveConfig } from '../../../src/raft/core/config.js';
import type { RaftConfig } from '../../../src/raft/core/config.js';
import { silentLogger } from '../../../src/raft/core/logger.js';
import { MemoryStorage } from '../../../src/raft/core/memory-storage.js';
import { SeededRandom } from '../../../src/raft/core/random.js';

const base = {
  id: 'a',
  storage: new MemoryStorage(),
  random: new SeededRandom(1),
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 1,
} satisfies RaftConfig;

const with_ = (overrides: Partial<RaftConfig>): RaftConfig => ({ ...base, ...overrides });

t.test('the optional settings default to their documented values', async (t) => {
  const c = resolveConfig(base);
  t.equal(c.id, 'a');
  t.equal(c.storage, base.storage);
  t.equal(c.random, base.random);
  t.equal(c.electionTimeoutTicks, 10);
  t.equal(c.heartbeatIntervalTicks, 1);
  t.equal(c.applied, 0);
  t.equal(c.preVote, true);
  t.equal(c.checkQuorum, true);
  t.equal(c.leaseTicks, 8, 'two ticks below the election timeout');
  t.equal(c.electionJitterTicks, 10, 'timeouts drawn from [n, 2n), as etcd');
  t.equal(c.maxInflightAppends, 64);
  t.equal(c.maxInflightBytes, Infinity, 'no byte bound unless asked');
  t.equal(c.maxAppendBytes, 1024 * 1024);
  t.equal(c.maxApplyBytes, 4 * 1024 * 1024);
  t.equal(c.snapshotChunkBytes, 256 * 1024);
  t.equal(c.maxPendingReads, 10_000);
  t.equal(c.logger, silentLogger);
});

t.test('given settings win over the defaults', async (t) => {
  const logger = { debug() {}, info() {}, warn() {} };
  const given = {
    applied: 7, preVote: false, checkQuorum: false, leaseTicks: 5, electionJitterTicks: 2, maxInflightAppends: 3, maxInflightBytes: 50, maxAppendBytes: 100,
    maxApplyBytes: 200, snapshotChunkBytes: 300, maxPendingReads: 4, logger,
  };
  t.same(resolveConfig(with_(given)), { ...base, ...given });
});

t.test('the silent logger accepts every level', async (t) => {
  silentLogger.debug({}, 'x');
  silentLogger.info({}, 'x');
  silentLogger.warn({}, 'x');
  t.pass('no output, no throw');
});

t.test('the id must not be empty', async (t) => {
  t.throws(() => resolveConfig(with_({ id: '' })), { message: 'raft: id must not be empty' });
  t.equal(resolveConfig(with_({ id: 'x' })).id, 'x');
});

t.test('the heartbeat interval is at least one tick', async (t) => {
  t.throws(() => resolveConfig(with_({ heartbeatIntervalTicks: 0 })),
    { message: 'raft: heartbeatIntervalTicks must be at least 1' });
  t.equal(resolveConfig(with_({ heartbeatIntervalTicks: 1 })).heartbeatIntervalTicks, 1);
});

t.test('the election timeout exceeds the heartbeat interval', async (t) => {
  t.throws(() => resolveConfig(with_({ electionTimeoutTicks: 5, heartbeatIntervalTicks: 5, leaseTicks: 1 })),
    { message: 'raft: electionTimeoutTicks must exceed heartbeatIntervalTicks' });
  t.throws(() => resolveConfig(with_({ electionTimeoutTicks: 4, heartbeatIntervalTicks: 5, leaseTicks: 1 })),
    { message: 'raft: electionTimeoutTicks must exceed heartbeatIntervalTicks' });
  t.equal(resolveConfig(with_({ electionTimeoutTicks: 6, heartbeatIntervalTicks: 5, leaseTicks: 1 })).electionTimeoutTicks, 6);
});

t.test('the lease is at least one tick and below the election timeout', async (t) => {
  const message = 'raft: leaseTicks must be at least 1 and below electionTimeoutTicks';
  t.throws(() => resolveConfig(with_({ leaseTicks: 0 })), { message });
  t.throws(() => resolveConfig(with_({ leaseTicks: 10 })), { message });
  t.throws(() => resolveConfig(with_({ leaseTicks: 11 })), { message });
  t.equal(resolveConfig(with_({ leaseTicks: 1 })).leaseTicks, 1);
  t.equal(resolveConfig(with_({ leaseTicks: 9 })).leaseTicks, 9);
});

t.test('the default lease needs an election timeout of at least three ticks', async (t) => {
  t.throws(() => resolveConfig(with_({ electionTimeoutTicks: 2 })),
    { message: 'raft: leaseTicks must be at least 1 and below electionTimeoutTicks' });
  t.equal(resolveConfig(with_({ electionTimeoutTicks: 3 })).leaseTicks, 1);
});

t.test('the election jitter is a whole number of ticks, at least one', async (t) => {
  const message = 'raft: electionJitterTicks must be a positive integer';
  t.throws(() => resolveConfig(with_({ electionJitterTicks: 0 })), { message });
  t.throws(() => resolveConfig(with_({ electionJitterTicks: 1.5 })), { message });
  t.equal(resolveConfig(with_({ electionJitterTicks: 1 })).electionJitterTicks, 1);
});

t.test('at least one append may be in flight', async (t) => {
  t.throws(() => resolveConfig(with_({ maxInflightAppends: 0 })), { message: 'raft: maxInflightAppends must be at least 1' });
  t.equal(resolveConfig(with_({ maxInflightAppends: 1 })).maxInflightAppends, 1);
  t.throws(() => resolveConfig(with_({ maxInflightBytes: 0 })), { message: 'raft: maxInflightBytes must be positive' });
  t.equal(resolveConfig(with_({ maxInflightBytes: 1 })).maxInflightBytes, 1);
});

t.test('every byte limit is positive', async (t) => {
  const message = 'raft: byte limits must be positive';
  t.throws(() => resolveConfig(with_({ maxAppendBytes: 0 })), { message });
  t.throws(() => resolveConfig(with_({ maxApplyBytes: 0 })), { message });
  t.throws(() => resolveConfig(with_({ snapshotChunkBytes: 0 })), { message });
  const c = resolveConfig(with_({ maxAppendBytes: 1, maxApplyBytes: 1, snapshotChunkBytes: 1 }));
  t.same([c.maxAppendBytes, c.maxApplyBytes, c.snapshotChunkBytes], [1, 1, 1]);
});

t.test('at least one read may wait, and applied is a non-negative integer', async (t) => {
  t.throws(() => resolveConfig(with_({ maxPendingReads: 0 })), { message: 'raft: maxPendingReads must be at least 1' });
  t.equal(resolveConfig(with_({ maxPendingReads: 1 })).maxPendingReads, 1);
  const message = 'raft: applied must be a non-negative integer';
  t.throws(() => resolveConfig(with_({ applied: -1 })), { message });
  t.throws(() => resolveConfig(with_({ applied: 1.5 })), { message });
  t.equal(resolveConfig(with_({ applied: 0 })).applied, 0);
  t.equal(resolveConfig(with_({ applied: 7 })).applied, 7);
});
