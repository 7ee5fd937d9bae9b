// The one door into src/raft for the rest of the program: the replication service and the types it speaks.
export type { Entry, NodeId, Status } from './core/index.js';
export type { PeerInfo, RaftServiceOptions } from './raft-service.js';
export { ClusterError, RaftService } from './raft-service.js';
export type { ClusterErrorCode } from './raft-service.js';
export type { RoleChange, StateMachine } from './runner.js';
export { raftLogDir } from './level-storage.js';
export type { DigestAnswer, MemberDigest, StateCheck } from './state-check.js';
