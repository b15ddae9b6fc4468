/** The pure Raft core: see README.md. The node layer imports from here only. */

export * from './types.js';
export { RawNode, type RawNodeConfig, type Status, type ProgressStatus, type Logger } from './rawnode.js';
export { MemoryStorage, entrySize, type Storage, type InitialState } from './storage.js';
export { encodeConfChange, decodeConfChange } from './confchange.js';
export { ProgressState } from './progress.js';
export {
  ProposalDroppedError,
  InvalidConfChangeError,
  ErrCompacted,
  ErrUnavailable,
  ErrSnapOutOfDate,
  RaftInvariantError,
  type ProposalDroppedReason,
} from './errors.js';
