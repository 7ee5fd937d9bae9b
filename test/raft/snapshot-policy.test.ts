// When a node snapshots: every SNAPSHOT_COUNT entries or log-byte threshold, and for a large state not before the
// log has grown by a share of what the snapshot will write.
import t from 'tap';
import { snapshotDue, stretched } from '../../src/raft/snapshot-policy.js';

const mib = 1024 * 1024;
const policy = { entriesThreshold: 10_000, logBytesThreshold: 64 * mib };

t.test('a small state snapshots at the entry count or the log bytes, whichever comes first', async (t) => {
  const small = 10 * mib;
  t.equal(snapshotDue(policy, { entries: 9_999, logBytes: 63 * mib, lastSnapshotBytes: small }), false);
  t.equal(snapshotDue(policy, { entries: 10_000, logBytes: 1, lastSnapshotBytes: small }), true);
  t.equal(snapshotDue(policy, { entries: 5, logBytes: 64 * mib, lastSnapshotBytes: small }), true);
  t.equal(snapshotDue(policy, { entries: 10_000, logBytes: 0, lastSnapshotBytes: 0 }), true, 'no snapshot yet');
  t.equal(snapshotDue(policy, { entries: 10_000, logBytes: 0, lastSnapshotBytes: 64 * mib }), true, 'at the threshold exactly');
});

t.test('a state larger than the log threshold waits for a quarter of its size in log, at most four thresholds', async (t) => {
  const large = 450 * mib;
  t.equal(snapshotDue(policy, { entries: 10_000, logBytes: 7 * mib, lastSnapshotBytes: large }), false, 'the entry count alone');
  t.equal(snapshotDue(policy, { entries: 100, logBytes: 64 * mib, lastSnapshotBytes: large }), false, 'the log threshold alone');
  t.equal(snapshotDue(policy, { entries: 100, logBytes: large / 4 - 1, lastSnapshotBytes: large }), false);
  t.equal(snapshotDue(policy, { entries: 100, logBytes: large / 4, lastSnapshotBytes: large }), true);
  const huge = 8 * 1024 * mib;
  t.equal(snapshotDue(policy, { entries: 100, logBytes: 256 * mib - 1, lastSnapshotBytes: huge }), false);
  t.equal(snapshotDue(policy, { entries: 100, logBytes: 256 * mib, lastSnapshotBytes: huge }), true, 'capped at four thresholds');
  t.equal(snapshotDue(policy, { entries: 9_999, logBytes: 63 * mib, lastSnapshotBytes: huge }), false, 'never before either threshold');
});

t.test('each node stretches both thresholds by its draw, from 1 to 1.5 times, so nodes snapshot apart', async (t) => {
  t.same(stretched(policy, 0), policy, 'a draw of 0 leaves the thresholds');
  t.same(stretched(policy, 0.5), { entriesThreshold: 12_500, logBytesThreshold: 80 * mib });
  const most = stretched(policy, 0.999_999);
  t.equal(most.entriesThreshold, 14_999, 'less than half again');
  t.same(stretched(policy, 7), { entriesThreshold: 15_000, logBytesThreshold: 96 * mib }, 'a draw out of range is clamped');
  t.same(stretched(policy, -1), policy);
  const later = stretched(policy, 0.2);
  t.equal(snapshotDue(later, { entries: 10_000, logBytes: 0, lastSnapshotBytes: 0 }), false, 'the stretched node waits past the base count');
  t.equal(snapshotDue(later, { entries: 11_000, logBytes: 0, lastSnapshotBytes: 0 }), true);
  t.equal(snapshotDue(later, { entries: 5, logBytes: 64 * mib, lastSnapshotBytes: 0 }), false, 'and past the base log bytes');
});
