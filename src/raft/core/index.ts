// The Raft core's public surface: everything outside src/raft/core imports from here.
export type { RaftConfig } from './config.js';
export { RaftError } from './errors.js';
export type { RaftErrorCode } from './errors.js';
export type { Logger } from './logger.js';
export { silentLogger } from './logger.js';
export { MemoryStorage } from './memory-storage.js';
export { applyConfChange, isMember, isVoter } from './membership.js';
export type { Message, MessageType } from './messages.js';
export { describeMessage } from './messages.js';
export type { Random } from './random.js';
export { SeededRandom } from './random.js';
export type { ReadState, Ready, Role, SoftState } from './ready.js';
export { RawNode } from './raw-node.js';
export type { MembershipRequest, PeerStatus, Status } from './raw-node.js';
export type { Storage } from './storage.js';
export type { ConfChange, Entry, HardState, Membership, NodeId, SnapshotChunk, SnapshotMeta } from './types.js';
export { entryBytes } from './types.js';
