/**
 * The node flags a member runs with: the `conclave-server` bin's shebang (which spells them out
 * itself), `npm start`, the test harness and the benchmark pass them; run a member under them
 * wherever it runs (`node --initial-old-space-size=256 .../cli/main.js`). V8 flags cannot go in
 * NODE_OPTIONS, nor be set once the process runs.
 *
 * Why: V8 counts the memory outside its heap allocated since its last full collection (the buffers
 * of values on their way through a member) against the old generation's limit, which for a small
 * heap is about 30 MB. With 100 KB values a member then ran a Mark-Compact every ~60 ms (5-27 ms
 * each). A first limit of 256 MB (ZooKeeper's JVM starts with a heap of 1/64 of the RAM) stopped
 * that: 100 KB writes 403-497 -> 825-869 writes/s, reads' p99 8.8-9.8 -> 5.4-7.5 ms
 * (bench/analysis.md). It is a limit, not an allocation: memory grows only with garbage.
 */
export const MEMBER_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=256'];
