/**
 * A write workload for failure tests: writers create unique sequential nodes under /load (each
 * node's data is its writer's op id), reconnecting as members die; `verify` then checks that every
 * acknowledged op id is present exactly once.
 */
import assert from 'node:assert/strict';
import { Conclave } from '@conclave/client';

export interface WriteLoad {
  /** op ids whose create was acknowledged */
  acked: Set<string>;
  failures: number;
  /** [start, end] of every acknowledged write */
  spans: [number, number][];
  stop(): Promise<void>;
}

export async function createLoadRoot(endpoints: string): Promise<void> {
  const client = await Conclave.connect({ endpoints });
  await client.create('/load');
  await client.close();
}

export function writeLoad(endpoints: string, writers: number, prefix = 'w'): WriteLoad {
  let running = true;
  const load: WriteLoad = { acked: new Set(), failures: 0, spans: [], stop: async () => undefined };
  const done = Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      let client: Conclave | undefined;
      for (let n = 0; running; n++) {
        try {
          client ??= await Conclave.connect({ endpoints, connectTimeoutMs: 1_000, requestTimeoutMs: 3_000, sessionTimeoutMs: 5_000 });
          const id = `${prefix}${w}-${n}`;
          const start = Date.now();
          await client.create('/load/item-', id, { kind: 'PERSISTENT_SEQUENTIAL' });
          load.acked.add(id);
          load.spans.push([start, Date.now()]);
        } catch {
          load.failures++;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      await client?.close().catch(() => undefined);
    }),
  );
  load.stop = async () => {
    running = false;
    await done;
  };
  return load;
}

/** When the first write that started at or after `t` was acknowledged. */
export function firstAckAfter(load: WriteLoad, t: number): number | undefined {
  let first: number | undefined;
  for (const [start, end] of load.spans) if (start >= t && (first === undefined || end < first)) first = end;
  return first;
}

/** Every acknowledged id is under /load exactly once; returns how many items there are. */
export async function verifyLoad(endpoints: string, acked: Set<string>): Promise<number> {
  const client = await Conclave.connect({ endpoints });
  try {
    await client.sync('/load');
    const names = await client.getChildren('/load');
    const counts = new Map<string, number>();
    for (let i = 0; i < names.length; i += 1000) {
      const results = await client.multiRead(names.slice(i, i + 1000).map((n) => ({ op: 'getData' as const, path: `/load/${n}` })));
      for (const r of results) {
        const id = (r as { data: Buffer }).data.toString();
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
    }
    const lost = [...acked].filter((id) => !counts.has(id));
    const doubled = [...counts].filter(([, c]) => c > 1).map(([id]) => id);
    assert.deepEqual(lost, [], `${lost.length} acknowledged writes lost`);
    assert.deepEqual(doubled, [], 'writes applied twice');
    return names.length;
  } finally {
    await client.close();
  }
}
