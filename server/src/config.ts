/**
 * Server configuration: defaults < config file (YAML or JSON) < environment (CONCLAVE_*) < flags.
 * Every setting has one name: camelCase in the file, --kebab-case as a flag, CONCLAVE_SNAKE_CASE in
 * the environment.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parse as parseYaml } from 'yaml';
import type { Member__Output as Member } from '@conclave/proto/gen/conclave/v1/Member.js';

export interface ServerConfig {
  /** member id (myid), 1..65535 */
  id: number;
  /** derive the id from the host name's trailing ordinal + 1 (a StatefulSet pod: name-0 -> 1) */
  idFromHostname: boolean;
  dataDir: string;
  /** listen address for all ports */
  host: string;
  /** how other members and clients reach this one (default: this host name, or 127.0.0.1 for a single member) */
  advertiseHost: string;
  clientPort: number;
  peerPort: number;
  metricsPort: number;
  /** founding members: "id=peerHost:peerPort[/clientHost:clientPort],..." (empty: just this member) */
  initialCluster: string;
  clusterToken: string;
  /** join an existing cluster instead of founding one when the data dir is empty */
  join: boolean;
  /** ZooKeeper's tickTime: the unit of session timeouts (ms) */
  tickMs: number;
  /** the Raft tick (ms): heartbeats every heartbeatTicks, elections after electionTicks..2x */
  raftTickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** defaults: 2 and 20 ticks */
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
  /** applied entries between snapshots, at most: each member snapshots after its own random share of it, half or more */
  snapshotCount: number;
  snapshotCatchUpEntries: number;
  /** log bytes since the last snapshot that call for one before snapshotCount (also past twice its size) */
  snapshotLogBytes: number;
  /** applied log entries kept in memory for followers that fall behind, in bytes */
  logMemoryBytes: number;
  maxDataBytes: number;
  maxPathBytes: number;
  maxMultiOps: number;
  maxOutstandingPerSession: number;
  maxPendingWrites: number;
  maxOutboundMessages: number;
  maxWatchesPerSession: number;
  maxSessions: number;
  requestTimeoutMs: number;
  historyEvents: number;
  reapIntervalMs: number;
  logLevel: string;
}

export const DEFAULTS: ServerConfig = {
  id: 1,
  idFromHostname: false,
  dataDir: './data',
  host: '0.0.0.0',
  advertiseHost: '',
  clientPort: 2281,
  peerPort: 2882,
  metricsPort: 9281,
  initialCluster: '',
  clusterToken: 'conclave',
  join: false,
  tickMs: 2000,
  raftTickMs: 50,
  electionTicks: 10,
  heartbeatTicks: 1,
  minSessionTimeoutMs: 0,
  maxSessionTimeoutMs: 0,
  snapshotCount: 100_000,
  snapshotCatchUpEntries: 5_000,
  snapshotLogBytes: 256 * 1024 * 1024,
  logMemoryBytes: 64 * 1024 * 1024,
  maxDataBytes: 1024 * 1024,
  maxPathBytes: 4096,
  maxMultiOps: 1000,
  maxOutstandingPerSession: 1000,
  maxPendingWrites: 20_000,
  maxOutboundMessages: 100_000,
  maxWatchesPerSession: 100_000,
  maxSessions: 200_000,
  requestTimeoutMs: 10_000,
  historyEvents: 100_000,
  reapIntervalMs: 1000,
  logLevel: 'info',
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const NUMBER_KEYS = Object.entries(DEFAULTS)
  .filter(([, v]) => typeof v === 'number')
  .map(([k]) => k as keyof ServerConfig);
const BOOLEAN_KEYS = Object.entries(DEFAULTS)
  .filter(([, v]) => typeof v === 'boolean')
  .map(([k]) => k as keyof ServerConfig);

export const envName = (key: string): string => 'CONCLAVE_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();

function coerce(key: keyof ServerConfig, value: unknown, source: string): unknown {
  if (NUMBER_KEYS.includes(key)) {
    const n = typeof value === 'number' ? value : Number(String(value).trim());
    if (!Number.isFinite(n) || !Number.isInteger(n) || n < 0) throw new ConfigError(`${source}: ${key} must be a non-negative integer, not ${JSON.stringify(value)}`);
    return n;
  }
  if (BOOLEAN_KEYS.includes(key)) {
    if (typeof value === 'boolean') return value;
    const s = String(value).toLowerCase();
    if (['1', 'true', 'yes'].includes(s)) return true;
    if (['0', 'false', 'no', ''].includes(s)) return false;
    throw new ConfigError(`${source}: ${key} must be true or false, not ${JSON.stringify(value)}`);
  }
  return String(value);
}

function merge(into: ServerConfig, from: Record<string, unknown>, source: string): void {
  for (const [key, value] of Object.entries(from)) {
    if (value === undefined) continue;
    if (!(key in DEFAULTS)) throw new ConfigError(`${source}: unknown setting ${key}`);
    (into as unknown as Record<string, unknown>)[key] = coerce(key as keyof ServerConfig, value, source);
  }
}

/** Resolves the configuration from a config file, the environment and flags (highest wins). */
export function resolveConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv, configFile?: string): ServerConfig {
  const config: ServerConfig = { ...DEFAULTS };
  if (configFile) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(configFile, 'utf8'));
    } catch (error) {
      throw new ConfigError(`cannot read config file ${configFile}: ${(error as Error).message}`);
    }
    if (parsed !== null && typeof parsed === 'object') merge(config, parsed as Record<string, unknown>, configFile);
    else if (parsed != null) throw new ConfigError(`${configFile}: expected a mapping of settings`);
  }
  const fromEnv: Record<string, unknown> = {};
  for (const key of Object.keys(DEFAULTS)) {
    const value = env[envName(key)];
    if (value !== undefined) fromEnv[key] = value;
  }
  merge(config, fromEnv, 'environment');
  merge(config, flags, 'command line');
  if (config.idFromHostname) config.id = idFromHostname(os.hostname());
  if (config.id < 1 || config.id > 65535) throw new ConfigError(`id must be in 1..65535, not ${config.id}`);
  if (config.minSessionTimeoutMs === 0) config.minSessionTimeoutMs = 2 * config.tickMs;
  if (config.maxSessionTimeoutMs === 0) config.maxSessionTimeoutMs = 20 * config.tickMs;
  if (config.minSessionTimeoutMs > config.maxSessionTimeoutMs) {
    throw new ConfigError(`minSessionTimeoutMs (${config.minSessionTimeoutMs}) exceeds maxSessionTimeoutMs (${config.maxSessionTimeoutMs})`);
  }
  if (config.electionTicks <= config.heartbeatTicks) throw new ConfigError('electionTicks must exceed heartbeatTicks');
  if (config.logMemoryBytes < 1024 * 1024) throw new ConfigError(`logMemoryBytes must be at least 1 MiB (1048576), not ${config.logMemoryBytes}`);
  if (config.advertiseHost === '') config.advertiseHost = config.initialCluster === '' ? '127.0.0.1' : os.hostname();
  return config;
}

/** A StatefulSet pod's ordinal + 1: `conclave-2` -> 3. */
export function idFromHostname(hostname: string): number {
  const match = /-(\d+)$/.exec(hostname.split('.')[0]!);
  if (!match) throw new ConfigError(`cannot derive a member id from host name ${hostname} (expected a trailing -<ordinal>)`);
  return Number(match[1]) + 1;
}

/** Parses "id=peerHost:peerPort[/clientHost:clientPort],..." into members. */
export function parseInitialCluster(spec: string, defaultClientPort: number): Member[] {
  const members: Member[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const match = /^(\d+)=([^/\s]+:\d+)(?:\/([^/\s]+:\d+))?$/.exec(part);
    if (!match) throw new ConfigError(`bad initial cluster entry ${JSON.stringify(part)}: expected id=host:peerPort[/host:clientPort]`);
    const id = Number(match[1]);
    const peerAddress = match[2]!;
    const clientAddress = match[3] ?? `${peerAddress.slice(0, peerAddress.lastIndexOf(':'))}:${defaultClientPort}`;
    if (members.some((m) => m.id === id)) throw new ConfigError(`member ${id} appears twice in the initial cluster`);
    members.push({ id, peerAddress, clientAddress, voter: true });
  }
  return members;
}

/** The founding members: the initial cluster, or just this member. */
export function founders(config: ServerConfig): Member[] {
  if (config.initialCluster === '') {
    const host = config.advertiseHost;
    return [{ id: config.id, peerAddress: `${host}:${config.peerPort}`, clientAddress: `${host}:${config.clientPort}`, voter: true }];
  }
  return parseInitialCluster(config.initialCluster, config.clientPort);
}

/** Every member of a cluster computes the same id from its token and founding members. */
export function clusterIdOf(token: string, members: Member[]): string {
  const canonical = [...members].sort((a, b) => a.id - b.id).map((m) => `${m.id}=${m.peerAddress}`).join(',');
  return createHash('sha256').update(`${token}|${canonical}`).digest('hex').slice(0, 16);
}
