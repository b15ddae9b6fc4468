/**
 * Member failures during a recipe run: kill -9 the leader once a quarter of the work is done,
 * bring it back at half, kill a follower at 60% and bring it back at 85%. Progress is whatever the
 * test counts (e.g. finished critical sections); a run that stalls fails here with what it saw.
 */
import type { TestCluster } from './cluster.js';
import { waitFor } from './checks.js';

export interface Kills {
  leader: number;
  follower: number;
}

export async function killDuring(cluster: TestCluster, progress: () => number, total: number, timeoutMs = 60_000): Promise<Kills> {
  const at = (fraction: number) => waitFor(() => progress() >= Math.floor(total * fraction), timeoutMs, `progress ${Math.floor(total * fraction)} of ${total}`);
  await at(0.25);
  const leader = await cluster.leader();
  await cluster.kill(leader);
  await at(0.5);
  await cluster.restart(leader);
  await at(0.6);
  const current = await cluster.leader();
  const followers = [...cluster.members.keys()].filter((id) => id !== current && cluster.running(id));
  const follower = followers.find((id) => id !== leader) ?? followers[0]!;
  await cluster.kill(follower);
  await at(0.85);
  await cluster.restart(follower);
  return { leader, follower };
}
