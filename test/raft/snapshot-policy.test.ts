// When a node snapshots: every SNAPSHOT_COUNT entries or log-byte threshold, and for a large state not before the
// log has grown by a share of what the snapshot will write.
import t from 'tap';
import { snapshotDue } from '../../src/raft/snapshot-policy.js';

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
