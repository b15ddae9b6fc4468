/**
 * Path rules (semantics.md, "Data model"): absolute, `/`-separated, no empty segment, no `.` or `..`
 * segment, no trailing `/` except the root, no NUL or control characters, at most `maxBytes` UTF-8
 * bytes. `/conclave` and everything under it is reserved for the system.
 */
import { InvalidPathError, PermissionDeniedError } from '../errors.js';

export const ROOT = '/';
export const SYSTEM_PATH = '/conclave';
export const DEFAULT_MAX_PATH_BYTES = 4096;

// C0 and C1 controls, DEL, and the ranges ZooKeeper also refuses (surrogates, private use, specials).
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\ud800-\uf8ff\ufff0-\uffff]/;

function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else bytes += 3;
  }
  return bytes;
}

/**
 * Throws InvalidPathError unless `path` is a valid node path. With `sequentialPrefix`, the path is
 * the prefix of a sequential create, which may end in `/` (the name is then just the suffix).
 */
export function validatePath(path: unknown, maxBytes = DEFAULT_MAX_PATH_BYTES, sequentialPrefix = false): string {
  if (typeof path !== 'string' || path.length === 0) throw new InvalidPathError('path must be a non-empty string');
  if (path.charCodeAt(0) !== 47) throw new InvalidPathError(`path must start with /: ${JSON.stringify(path)}`, { path });
  if (utf8Length(path) > maxBytes) throw new InvalidPathError(`path longer than ${maxBytes} bytes`, { path: path.slice(0, 64) });
  if (FORBIDDEN.test(path)) throw new InvalidPathError(`path contains a forbidden character: ${JSON.stringify(path)}`, { path });
  if (path.length === 1) return path;
  const end = sequentialPrefix && path.endsWith('/') ? path.length - 1 : path.length;
  let start = 1;
  for (let i = 1; i <= end; i++) {
    if (i === end || path.charCodeAt(i) === 47) {
      const len = i - start;
      if (len === 0) throw new InvalidPathError(`path has an empty segment: ${JSON.stringify(path)}`, { path });
      if (len <= 2 && path.charCodeAt(start) === 46 && (len === 1 || path.charCodeAt(start + 1) === 46)) {
        throw new InvalidPathError(`path has a relative segment: ${JSON.stringify(path)}`, { path });
      }
      start = i + 1;
    }
  }
  return path;
}

/** The parent of a valid non-root path. */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === 0 ? ROOT : path.slice(0, slash);
}

export function isSystemPath(path: string): boolean {
  return path === SYSTEM_PATH || path.startsWith(SYSTEM_PATH + '/');
}

/** Refuses client writes to the reserved system subtree. */
export function assertWritable(path: string): void {
  if (isSystemPath(path)) throw new PermissionDeniedError(`${SYSTEM_PATH} is reserved for the system`, { path });
}

/** True when `path` is `ancestor` or lies below it. */
export function isWithin(path: string, ancestor: string): boolean {
  if (ancestor === ROOT) return true;
  return path === ancestor || (path.startsWith(ancestor) && path.charCodeAt(ancestor.length) === 47);
}

/** `%010d` as ZooKeeper formats sequence suffixes (negative counters keep their sign, as in Java). */
export function sequenceSuffix(counter: number): string {
  if (counter < 0) return '-' + String(-counter).padStart(9, '0');
  return String(counter).padStart(10, '0');
}
