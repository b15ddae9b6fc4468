/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): self time by function and by area of the server
 * (transport encoding, session stream, Raft, WAL, state machine, GC, ...), optionally only for the
 * samples inside a time window (the measured workload).
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** sampled wall time in the window, ms */
  totalMs: number;
  idleMs: number;
  /** total - idle: time the main thread was busy */
  busyMs: number;
  areas: { area: string; ms: number; pct: number }[];
  functions: { fn: string; where: string; area: string; ms: number; pct: number }[];
}

/** The area a frame belongs to, by its script's path. Order matters: the first match wins. */
const AREAS: [string, (f: CallFrame) => boolean][] = [
  ['idle', (f) => f.functionName === '(idle)'],
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['V8/native (program)', (f) => f.functionName === '(program)' || f.functionName === '(root)'],
  // protobufjs' generated codecs have no script url, only names like SessionResponse$encode
  ['protobuf encode/decode (protobufjs)', (f) => /node_modules\/(protobufjs|@protobufjs|@grpc\/proto-loader)\//.test(f.url) || /\$(encode|decode|fromObject|toObject|verify)$/.test(f.functionName)],
  ['message framing (proto/*)', (f) => /\/proto\/dist\//.test(f.url)],
  ['native I/O calls (writev, fdatasync, ...)', (f) => f.url === '' && /^(writeBuffers?|writev|writeUtf8String|writeLatin1String|writeAsciiString|fdatasync|fsync|read|close|open|shutdown)$/.test(f.functionName)],
  ['gRPC (grpc-js)', (f) => /node_modules\/@grpc\/grpc-js\//.test(f.url)],
  ['HTTP/2 + sockets (node core)', (f) => /^node:(internal\/)?(http2|net|stream|internal\/stream_base_commons|internal\/streams|tls|dgram)/.test(f.url)],
  ['logging (pino)', (f) => /node_modules\/(pino|sonic-boom|thread-stream)/.test(f.url)],
  ['metrics (prom-client)', (f) => /node_modules\/prom-client\//.test(f.url)],
  ['client session stream (api/session-stream)', (f) => /server\/dist\/src\/api\/session-stream/.test(f.url)],
  ['API layer (api/*)', (f) => /server\/dist\/src\/api\//.test(f.url)],
  ['request pipeline (pipeline/*)', (f) => /server\/dist\/src\/pipeline\//.test(f.url)],
  ['Raft core (raft/*)', (f) => /server\/dist\/src\/raft\//.test(f.url)],
  ['peer transport (transport/*)', (f) => /server\/dist\/src\/transport\//.test(f.url)],
  ['WAL/storage (storage/*)', (f) => /server\/dist\/src\/storage\//.test(f.url)],
  ['state machine (fsm, tree, watch, session)', (f) => /server\/dist\/src\/(fsm|tree|watch|session)\//.test(f.url)],
  ['member glue (node.ts, member.ts, codec.ts)', (f) => /server\/dist\/src\/[^/]+\.js$/.test(f.url)],
  ['fs (node core)', (f) => /^node:(internal\/)?fs/.test(f.url)],
  ['node core (other)', (f) => f.url.startsWith('node:')],
  ['native / builtins', (f) => f.url === ''],
  ['other', () => true],
];

export const areaOf = (f: CallFrame): string => AREAS.find(([, test]) => test(f))![0];

const shortUrl = (url: string) => url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, '').replace(/^.*\/server\/dist\/src\//, 'server/');

/** `window` in microseconds of the monotonic clock (process.hrtime), as the profile's timestamps are. */
export function summarize(profile: CpuProfile, window?: { fromUs: number; toUs: number }, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    if (window && (t < window.fromUs || t > window.toUs)) continue;
    // a sample's time is the delta to the next sample
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + dt);
  }
  const areas = new Map<string, number>();
  const functions = new Map<string, { fn: string; where: string; area: string; us: number }>();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const area = areaOf(frame);
    totalUs += us;
    areas.set(area, (areas.get(area) ?? 0) + us);
    const where = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName}@${where}`;
    const entry = functions.get(key) ?? { fn: frame.functionName || '(anonymous)', where, area, us: 0 };
    entry.us += us;
    functions.set(key, entry);
  }
  const idleUs = areas.get('idle') ?? 0;
  const busyUs = totalUs - idleUs;
  const ms = (us: number) => Math.round(us / 100) / 10;
  const pct = (us: number) => (busyUs > 0 ? Math.round((us / busyUs) * 1000) / 10 : 0);
  return {
    totalMs: ms(totalUs),
    idleMs: ms(idleUs),
    busyMs: ms(busyUs),
    areas: [...areas.entries()].filter(([a]) => a !== 'idle').sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, ms: ms(us), pct: pct(us) })),
    functions: [...functions.values()]
      .filter((f) => f.area !== 'idle')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ fn: f.fn, where: f.where, area: f.area, ms: ms(f.us), pct: pct(f.us) })),
  };
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}
