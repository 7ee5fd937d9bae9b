// RaftError carries a stable code beside its message.
import t from 'tap';
import { RaftError } from '../../../src/raft/core/errors.js';

t.test('a RaftError is an Error with a name, a code and a message', async (t) => {
  const err = new RaftError('not_leader', 'node a is not the leader');
  t.ok(err instanceof Error);
  t.ok(err instanceof RaftError);
  t.equal(err.name, 'RaftError');
  t.equal(err.code, 'not_leader');
  t.equal(err.message, 'node a is not the leader');
  t.equal(String(err), 'RaftError: node a is not the leader');
});
