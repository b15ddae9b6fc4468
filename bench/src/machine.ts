/** Facts about the machine a run happened on, and installing the anchors. */
import { execFileSync, execSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  java: string;
  hostname: string;
}

const run = (cmd: string) => {
  try {
    return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (error) {
    return ((error as { stderr?: string }).stderr ?? '').trim();
  }
};

export function machine(): Machine {
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    java: run('java -version 2>&1 | head -1'),
    hostname: os.hostname(),
  };
}

/** 1, 5 and 15 minute load averages */
export const loadAverage = (): number[] => os.loadavg().map((l) => Math.round(l * 100) / 100);

const haveAnchors = () => existsSync('/usr/share/java/zookeeper.jar') && existsSync('/usr/share/java/slf4j-simple.jar') && existsSync('/usr/bin/etcd') && !!run('command -v java');

/** Installs ZooKeeper and etcd from Debian's packages if they are missing (needs root). */
export function ensureAnchors(log: (line: string) => void, withJdk: boolean): void {
  const packages: string[] = [];
  if (!haveAnchors()) packages.push('zookeeper', 'etcd-server', 'libslf4j-java');
  // jcmd (to read ZooKeeper's live heap) comes with a JDK; the JRE that zookeeper pulls in lacks it
  if (withJdk && !run('command -v jcmd')) packages.push('openjdk-17-jdk-headless');
  if (packages.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing ${packages.join(', ')}: run as root, or apt-get install -y ${packages.join(' ')}`);
  log(`installing ${packages.join(', ')} (apt-get)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-q', ...packages], { stdio: 'inherit', env });
  if (!haveAnchors()) throw new Error('apt-get install did not provide zookeeper and etcd');
}

export function anchorVersions(): { zookeeper: string; etcd: string } {
  const zk = /zookeeper-([\d.]+)\.jar/.exec(run('ls /usr/share/java/ | grep -E "^zookeeper-[0-9.]+\\.jar$"'))?.[1] ?? '?';
  const etcd = /etcd Version: ([\d.]+)/.exec(run('etcd --version'))?.[1] ?? '?';
  return { zookeeper: zk, etcd };
}

export const readText = (file: string) => readFileSync(file, 'utf8');
