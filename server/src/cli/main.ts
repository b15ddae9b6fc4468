#!/usr/bin/env node
/**
 * conclave-server: runs one Conclave member. Settings come from flags, CONCLAVE_* environment
 * variables and an optional YAML/JSON config file (flags win). Exit codes: 0 after a clean stop,
 * 1 when the member fails (storage, removal, another cluster's data), 2 for bad configuration.
 */
import { Command, Option } from 'commander';
import { decodeLongsAsNumbers } from '@conclave/proto';
import { ConfigError, DEFAULTS, envName, resolveConfig, type ServerConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { startMember } from '../member.js';
import { VERSION } from '../version.js';

const HELP: Record<keyof ServerConfig, string> = {
  id: 'member id (myid), 1..65535',
  idFromHostname: "derive the id from the host name's ordinal + 1 (StatefulSet pod name-0 -> 1)",
  dataDir: 'data directory (write-ahead log, snapshots)',
  host: 'listen address for all ports',
  advertiseHost: 'host name others use to reach this member',
  clientPort: 'client gRPC port',
  peerPort: 'member-to-member gRPC port',
  metricsPort: 'HTTP port for /metrics, /healthz, /readyz, /status',
  initialCluster: 'founding members: id=host:peerPort[/host:clientPort],... (empty: a single member)',
  clusterToken: 'distinguishes clusters that have the same members',
  join: 'join an existing cluster (added with `conclave cluster add`) instead of founding one',
  tickMs: "ZooKeeper's tickTime: the unit of session timeouts, ms",
  raftTickMs: 'Raft tick, ms',
  electionTicks: 'Raft ticks without a leader before an election (randomized up to 2x)',
  heartbeatTicks: 'Raft ticks between leader heartbeats',
  minSessionTimeoutMs: 'lowest session timeout granted (default 2 ticks)',
  maxSessionTimeoutMs: 'highest session timeout granted (default 20 ticks)',
  snapshotCount: 'applied entries between snapshots, at most (each member snapshots after a random share of it, half or more, so that members do not all write snapshots at once)',
  snapshotCatchUpEntries: 'entries kept in the log behind a snapshot for slow followers',
  snapshotLogBytes: 'log bytes since the last snapshot that call for a new one before snapshotCount entries (and at least twice its size; each member takes its random share of it too)',
  logMemoryBytes: 'applied log entries kept in memory for followers that fall behind, in bytes (a follower further behind gets a snapshot)',
  maxDataBytes: 'largest znode data, bytes',
  maxPathBytes: 'longest path, bytes',
  maxMultiOps: 'most ops in one multi',
  maxOutstandingPerSession: 'most requests in flight per session',
  maxPendingWrites: 'most writes in flight on this member',
  maxOutboundMessages: 'responses a client may leave unread before its stream is closed',
  maxWatchesPerSession: 'most watches one session may hold',
  maxSessions: 'most sessions and leases in the cluster',
  requestTimeoutMs: 'time a write may take before it fails with TIMEOUT',
  historyEvents: 'changes remembered for resuming watches after a reconnect',
  reapIntervalMs: 'how often the leader deletes empty containers and expired TTL nodes',
  logLevel: 'trace, debug, info, warn, error or fatal',
};

decodeLongsAsNumbers();

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

const program = new Command('conclave-server')
  .description('Run a Conclave coordination server member.')
  .version(VERSION)
  .option('-c, --config <file>', 'YAML or JSON config file (keys are the camelCase names of the options below)')
  .addHelpText(
    'after',
    `
Every option can also be set in the environment as CONCLAVE_<NAME>, e.g. ${envName('dataDir')}=/var/lib/conclave.

Examples:
  conclave-server                                   # a single member on :2281, data in ./data
  conclave-server --id 2 --data-dir /var/lib/c2 --initial-cluster 1=h1:2882,2=h2:2882,3=h3:2882
  conclave-server --id-from-hostname --config /etc/conclave/conclave.yaml`,
  );
for (const [key, value] of Object.entries(DEFAULTS) as [keyof ServerConfig, unknown][]) {
  const flag = typeof value === 'boolean' ? `--${kebab(key)}` : `--${kebab(key)} <value>`;
  const option = new Option(flag, HELP[key]);
  if (typeof value !== 'boolean' && value !== '' && value !== 0) option.default(value);
  program.addOption(option);
}

program.action(async (flags: Record<string, unknown>) => {
  const { config: configFile, ...rest } = flags;
  const explicit: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rest)) {
    if (program.getOptionValueSource(key) === 'cli') explicit[key] = value;
  }
  let config: ServerConfig;
  try {
    config = resolveConfig(explicit, process.env, configFile as string | undefined);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`conclave-server: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel, { member: config.id });
  let member;
  try {
    member = await startMember(config, logger);
  } catch (error) {
    logger.fatal({ err: error }, 'cannot start');
    process.stderr.write(`conclave-server: cannot start: ${(error as Error).message}\n`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  }
  let signals = 0;
  const shutdown = (signal: string) => {
    if (++signals > 1) process.exit(130);
    logger.info({ signal }, 'stopping');
    void member.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  void member.failed.then(async (error) => {
    process.stderr.write(`conclave-server: stopping: ${error.message}\n`);
    await member.stop().catch(() => undefined);
    process.exit(1);
  });
});

await program.parseAsync();
