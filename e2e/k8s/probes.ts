// Probes: the kubelet's threshold logic (pure, ProbeTracker) and the probe handlers (httpGet,
// tcpSocket, grpc, exec) run against the pod's IP from the host.
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { KObject } from './kube.js';

export type ProbeKind = 'startup' | 'liveness' | 'readiness';

export interface ProbeTiming {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

export function probeTiming(spec: KObject | Record<string, unknown>): ProbeTiming {
  const s = spec as Record<string, number | undefined>;
  return {
    initialDelayMs: (s.initialDelaySeconds ?? 0) * 1000,
    periodMs: (s.periodSeconds ?? 10) * 1000,
    timeoutMs: (s.timeoutSeconds ?? 1) * 1000,
    successThreshold: s.successThreshold ?? 1,
    failureThreshold: s.failureThreshold ?? 3,
  };
}

/**
 * The result of a probe over time, as the kubelet's prober worker keeps it: a result changes only
 * after `successThreshold` consecutive successes or `failureThreshold` consecutive failures.
 * Initial results: readiness fails, liveness succeeds, startup is unknown (undefined).
 */
export class ProbeTracker {
  result: boolean | undefined;
  private last: boolean | undefined;
  private run = 0;
  readonly timing: ProbeTiming;

  constructor(
    readonly kind: ProbeKind,
    spec: KObject | Record<string, unknown>,
  ) {
    this.timing = probeTiming(spec);
    this.result = kind === 'readiness' ? false : kind === 'liveness' ? true : undefined;
  }

  /** Records one probe outcome; returns true when the result changed. */
  record(ok: boolean): boolean {
    if (ok === this.last) this.run++;
    else {
      this.last = ok;
      this.run = 1;
    }
    const needed = ok ? this.timing.successThreshold : this.timing.failureThreshold;
    if (this.run < needed || this.result === ok) return false;
    this.result = ok;
    return true;
  }

  /** Delay before the first probe after the container started. */
  firstDelay(): number {
    return this.timing.initialDelayMs;
  }
}

/**
 * What a probe's timer does at a tick, as the kubelet's prober: a startup probe stops once the
 * container has started; liveness and readiness probes wait (skip) until then.
 */
export function probeAction(kind: ProbeKind, containerStarted: boolean): 'probe' | 'skip' | 'stop' {
  if (kind === 'startup') return containerStarted ? 'stop' : 'probe';
  return containerStarted ? 'probe' : 'skip';
}

export interface ProbeTarget {
  podIP: string;
  /** Named ports of the container (ports[].name -> containerPort). */
  ports: Record<string, number>;
  /** Runs a command inside the container; resolves with its exit code. */
  exec: (argv: string[], timeoutMs: number) => Promise<number>;
}

export function resolvePort(port: number | string, ports: Record<string, number>): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const p = ports[port];
  if (p === undefined) throw new Error(`unknown named port ${port}`);
  return p;
}

/** Runs one probe handler; resolves true for success, false for failure (never rejects). */
export async function runProbe(spec: KObject | Record<string, unknown>, target: ProbeTarget): Promise<boolean> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const s = spec as any;
  const timeoutMs = probeTiming(spec).timeoutMs;
  try {
    if (s.httpGet) return await httpProbe(s.httpGet, target, timeoutMs);
    if (s.tcpSocket) return await tcpProbe(s.tcpSocket.host ?? target.podIP, resolvePort(s.tcpSocket.port, target.ports), timeoutMs);
    if (s.grpc) return await grpcProbe(target.podIP, s.grpc.port, s.grpc.service ?? '', timeoutMs);
    if (s.exec) return (await target.exec(s.exec.command, timeoutMs)) === 0;
  } catch {
    return false;
  }
  return false;
}

function httpProbe(
  h: { path?: string; port: number | string; host?: string; scheme?: string; httpHeaders?: Array<{ name: string; value: string }> },
  target: ProbeTarget,
  timeoutMs: number,
): Promise<boolean> {
  const mod = h.scheme === 'HTTPS' ? https : http;
  const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.34', accept: '*/*' };
  for (const x of h.httpHeaders ?? []) headers[x.name.toLowerCase()] = x.value;
  return new Promise((resolve) => {
    const req = mod.request(
      {
        host: h.host ?? target.podIP,
        port: resolvePort(h.port, target.ports),
        path: h.path ?? '/',
        method: 'GET',
        headers,
        rejectUnauthorized: false,
        agent: false,
      },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** grpc.health.v1.Health/Check, with the two tiny messages encoded by hand. */
function grpcProbe(host: string, port: number, service: string, timeoutMs: number): Promise<boolean> {
  const client = new grpc.Client(`${host}:${port}`, grpc.credentials.createInsecure());
  const svc = Buffer.from(service, 'utf8');
  const request = svc.length ? Buffer.concat([Buffer.from([0x0a, svc.length]), svc]) : Buffer.alloc(0);
  return new Promise<boolean>((resolve) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (b: Buffer) => b,
      (b: Buffer) => b,
      request,
      { deadline: Date.now() + timeoutMs },
      (err, res) => {
        client.close();
        // HealthCheckResponse { status = 1 }: SERVING is 1 -> bytes 08 01.
        resolve(!err && !!res && res.length >= 2 && res[0] === 0x08 && res[1] === 0x01);
      },
    );
  });
}

/** Spawns argv and resolves with its exit code (-1 on timeout or spawn error). */
export function runCommand(argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: 'ignore' });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(-1);
    }, timeoutMs);
    child.on('error', () => {
      clearTimeout(timer);
      resolve(-1);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code ?? -1);
    });
  });
}
