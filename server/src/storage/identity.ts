/**
 * The member identity file (member.json) of a data directory, so that a member refuses a directory
 * that belongs to another cluster or member. Written atomically: temp file, fsync, rename, dir fsync.
 */
import { join } from 'node:path';
import { DataDirMismatchError, storageFailure } from './errors.js';
import { ensureDir, nodeFs, readWhole, writeFully, type StorageFs } from './fs.js';

export interface MemberIdentity {
  clusterId: string;
  memberId: number;
}

export const IDENTITY_FILE = 'member.json';

/** The identity recorded in `dir`, or undefined if it has none yet. */
export async function readIdentity(dir: string, fs: StorageFs = nodeFs): Promise<MemberIdentity | undefined> {
  const path = join(dir, IDENTITY_FILE);
  let text: string;
  try {
    text = (await readWhole(fs, path)).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw storageFailure(error, `read ${path}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new DataDirMismatchError(`${path} is not valid JSON`, error);
  }
  const { clusterId, memberId } = (parsed ?? {}) as Partial<MemberIdentity>;
  if (typeof clusterId !== 'string' || clusterId === '' || !Number.isSafeInteger(memberId) || memberId! <= 0) {
    throw new DataDirMismatchError(`${path} does not hold a clusterId string and a positive integer memberId`);
  }
  return { clusterId, memberId: memberId! };
}

export async function writeIdentity(dir: string, identity: MemberIdentity, fs: StorageFs = nodeFs): Promise<void> {
  const path = join(dir, IDENTITY_FILE);
  const tempPath = `${path}.tmp`;
  const text = `${JSON.stringify({ clusterId: identity.clusterId, memberId: identity.memberId }, null, 2)}\n`;
  try {
    await ensureDir(fs, dir);
    const file = await fs.open(tempPath, 'w+');
    try {
      await writeFully(file, [Buffer.from(text, 'utf8')], 0);
      await file.datasync();
    } finally {
      await file.close();
    }
    await fs.rename(tempPath, path);
    await fs.syncDir(dir);
  } catch (error) {
    await fs.unlink(tempPath).catch(() => undefined);
    throw storageFailure(error, `write ${path}`);
  }
}

/**
 * Records `identity` in a fresh directory, or checks it against the one recorded: a directory of
 * another cluster or member is refused with DataDirMismatchError.
 */
export async function claimIdentity(dir: string, identity: MemberIdentity, fs: StorageFs = nodeFs): Promise<void> {
  const recorded = await readIdentity(dir, fs);
  if (recorded === undefined) return writeIdentity(dir, identity, fs);
  if (recorded.clusterId !== identity.clusterId || recorded.memberId !== identity.memberId) {
    throw new DataDirMismatchError(
      `data directory ${dir} belongs to member ${recorded.memberId} of cluster ${recorded.clusterId}, not member ${identity.memberId} of cluster ${identity.clusterId}`,
    );
  }
}
