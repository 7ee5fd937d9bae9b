// How a pre-candidate or candidate handles messages: count votes, or yield to a leader of its term.
import type { Message } from './messages.js';
import type { Raft } from './raft.js';
import { stepFollower } from './step-follower.js';

export function stepCandidate(r: Raft, m: Message): void {
  switch (m.type) {
    case 'append_entries':
    case 'heartbeat':
    case 'install_snapshot':
      // §5.2: a leader of this term exists; recognise it and handle the message as its follower.
      r.becomeFollower(r.term, m.from);
      stepFollower(r, m);
      return;
    case 'request_vote_result': {
      const expectsPreVote = r.role === 'pre_candidate';
      if (m.preVote !== expectsPreVote) return;
      r.votes.set(m.from, m.granted);
      if (!r.tallyVotes() && !m.granted) r.retrySoonAfterRefusal();
      return;
    }
    case 'read_index_result':
    case 'read_index':
    case 'request_vote':
    case 'append_entries_result':
    case 'heartbeat_result':
    case 'install_snapshot_result':
    case 'timeout_now':
      stepFollower(r, m);
      return;
  }
}
