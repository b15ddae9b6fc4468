/**
 * The bytes of a snapshot file while it is being written, for one member that is streamed the
 * snapshot meanwhile (node.ts sendSnapshot): each chunk written waits here until the member's
 * stream takes it. A stream that falls more than `maxBacklogBytes` behind fails (the member gets
 * the finished file on its next attempt), so a slow member never makes the writer wait or hold
 * the whole snapshot in memory.
 */
export class SnapshotFeed {
  private readonly queue: Uint8Array[] = [];
  private backlogBytes = 0;
  private state: 'open' | 'ended' | Error = 'open';
  private wake: (() => void) | undefined;

  constructor(private readonly maxBacklogBytes: number) {}

  /** A chunk of the file, in order. Ignored once the feed ended or failed. */
  push(chunk: Uint8Array): void {
    if (this.state !== 'open') return;
    this.queue.push(chunk);
    this.backlogBytes += chunk.length;
    if (this.backlogBytes > this.maxBacklogBytes) {
      this.fail(new Error(`the member reads the snapshot more than ${this.maxBacklogBytes} bytes behind its writing`));
      return;
    }
    this.notify();
  }

  /** The file is complete: the reader ends after the last chunk. */
  end(): void {
    if (this.state !== 'open') return;
    this.state = 'ended';
    this.notify();
  }

  /** Writing failed (or the stream did): the reader throws `error`, and the chunks held are dropped. */
  fail(error: Error): void {
    if (this.state !== 'open') return;
    this.state = error;
    this.queue.length = 0;
    this.backlogBytes = 0;
    this.notify();
  }

  /** The file's chunks, for the one reader. */
  async *chunks(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk !== undefined) {
        this.backlogBytes -= chunk.length;
        yield chunk;
        continue;
      }
      if (this.state instanceof Error) throw this.state;
      if (this.state === 'ended') return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
