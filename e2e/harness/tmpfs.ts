/**
 * A small tmpfs for disk-full tests, mounted by the test (needs root: CI runs as root) and always
 * unmounted afterwards, plus filling it up and freeing it again.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class Tmpfs {
  private constructor(readonly dir: string) {}

  /** Mounts a tmpfs of `megabytes` at `dir` (created if needed). */
  static async mount(dir: string, megabytes: number): Promise<Tmpfs> {
    if (process.getuid?.() !== 0) {
      throw new Error(`this test mounts a tmpfs to fill a disk for real and needs root (running as uid ${process.getuid?.()})`);
    }
    mkdirSync(dir, { recursive: true });
    await run('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', dir]);
    return new Tmpfs(dir);
  }

  get freeBytes(): number {
    const s = statfsSync(this.dir);
    return s.bavail * s.bsize;
  }

  /**
   * Waits until nothing else is taking space: the WAL zero-fills its next segment in the background
   * (a 64 MiB file on this small disk, which fails and is removed), so free space jumps at start-up.
   */
  async settle(): Promise<void> {
    let last = -1;
    for (let stable = 0; stable < 5; ) {
      const free = this.freeBytes;
      const temp = readdirSync(this.dir, { recursive: true }).some((f) => String(f).endsWith('.tmp'));
      stable = free === last && !temp ? stable + 1 : 0;
      last = free;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Writes a filler file leaving about `leaveBytes` free; returns its path. */
  fill(leaveBytes: number): string {
    const file = path.join(this.dir, 'filler');
    writeFileSync(file, Buffer.alloc(Math.max(0, this.freeBytes - leaveBytes)));
    return file;
  }

  free(file: string): void {
    unlinkSync(file);
  }

  /** Lazy, so that a process still holding files cannot keep the mount behind. */
  async unmount(): Promise<void> {
    await run('umount', ['--lazy', this.dir]);
  }
}
