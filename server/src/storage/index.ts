/** The storage layer: the only disk I/O of the server. See README.md. */
export { DEFAULT_SEGMENT_BYTES, Wal, type WalOptions } from './wal.js';
export type { LogStore, RecoveredLog } from './log-store.js';
export { MemoryLogDisk, MemoryLogStore } from './memory-log.js';
export { SnapshotStore, type SnapshotFiles, type SnapshotInfo, type SnapshotRecords, type SnapshotWriteOptions } from './snapshot-store.js';
export { recordBytes, type EncodableRecord, type RecordWriter } from './snapshot-format.js';
export { MemorySnapshotFiles } from './memory-snapshots.js';
export { SnapshotFeed } from './snapshot-feed.js';
export { claimIdentity, readIdentity, writeIdentity, IDENTITY_FILE, type MemberIdentity } from './identity.js';
export { nodeFs, type OpenFlags, type StorageFile, type StorageFs } from './fs.js';
export {
  DataDirMismatchError,
  InvalidLogWriteError,
  SnapshotCorruptionError,
  StorageFullError,
  StorageIoError,
  WalClosedError,
  WalCorruptionError,
} from './errors.js';
