// A leader's crash leaves a 3-node cluster without a leader for about an election timeout, a split vote included.
import t from 'tap';
import { failoverAfterCrash, failoverTiming } from './failover-timing.js';

t.test('a new leader about an election timeout after a crash, and a split vote costs a heartbeat and the spread, not another timeout', async (t) => {
  const timing = failoverTiming(1, 1000);
  t.ok(timing.p50 >= 1000 && timing.p50 < 1300, `median ${timing.p50} ms: the 1 s timeout plus part of its spread`);
  t.ok(timing.moreThanOneRound > 0, `${timing.moreThanOneRound} crashes split the vote`);
  // Each split waited a whole randomized timeout again before a refused candidate retried early: p99 2,024 ms.
  t.ok(timing.p99 < 1600, `p99 ${timing.p99} ms`);
  t.ok(timing.max < 2500, `max ${timing.max} ms`);
});

t.test('the model is deterministic by seed', async (t) => {
  t.same(failoverAfterCrash(7), failoverAfterCrash(7));
});
