// The planner decides one step from what was observed: scaling one member at a time (learner ->
// caught up -> voter; leadership moved -> removed -> shrink -> volume policy), rollouts followers
// first and the leader last, and it stops with Degraded naming the member when a step fails.
import assert from 'node:assert/strict';
import { plan } from '../src/controller/plan.js';
import { cluster, NOW, observed, pod } from './fixtures.js';

describe('operator plan: membership', () => {
  it('a new cluster starts with member 1 alone, which founds it', () => {
    const o = { ...observed({ voters: [1] }), founded: false };
    delete o.raft;
    const p = plan(cluster({ replicas: 3 }), o);
    assert.equal(p.replicas, 1);
    assert.deepEqual(p.step, { kind: 'wait', reason: 'Founding', message: 'waiting for member 1 to found the cluster' });
    assert.equal(p.activity, 'Creating');
  });

  it('scale up: adds the lowest missing id as a learner before its pod exists', () => {
    const p = plan(cluster({ replicas: 5 }), observed({ voters: [1, 2, 3] }));
    assert.deepEqual(p.step, { kind: 'addMember', id: 4 });
    assert.equal(p.replicas, 3);
    assert.equal(p.activity, 'Scaling');
  });

  it('scale up: grows the StatefulSet for the learner, promotes it once caught up', () => {
    const o = observed({ voters: [1, 2, 3], learners: [4], replicas: 3 });
    const waiting = plan(cluster({ replicas: 5 }), o);
    assert.equal(waiting.replicas, 4);
    assert.equal(waiting.step.kind, 'wait');
    const grown = observed({ voters: [1, 2, 3], learners: [4] });
    assert.deepEqual(plan(cluster({ replicas: 5 }), grown).step, { kind: 'promoteMember', id: 4 });
    grown.raft!.reports.get(4)!.caughtUp = false;
    assert.equal(plan(cluster({ replicas: 5 }), grown).step.kind, 'wait', 'a lagging learner is not promoted');
  });

  it('scale down: removes the highest voter, moving leadership off it first', () => {
    assert.deepEqual(plan(cluster({ replicas: 3 }), observed({ voters: [1, 2, 3, 4, 5] })).step, { kind: 'removeMember', id: 5 });
    const leading = plan(cluster({ replicas: 3 }), observed({ voters: [1, 2, 3, 4, 5], leader: 5 }));
    assert.equal(leading.step.kind, 'transferLeadership');
    assert.ok(leading.step.kind === 'transferLeadership' && leading.step.from === 5 && leading.step.to <= 3, 'never to a member that is being removed');
    assert.equal(leading.replicas, 5, 'the StatefulSet keeps the pod until the member is out');
  });

  it('scale down: shrinks the StatefulSet to the members, then releases the removed member\'s volume', () => {
    const o = observed({ voters: [1, 2, 3, 4], replicas: 5 });
    const p = plan(cluster({ replicas: 3 }), o);
    assert.deepEqual(p.step, { kind: 'removeMember', id: 4 });
    const removed = observed({ voters: [1, 2, 3], replicas: 5 });
    const shrink = plan(cluster({ replicas: 3 }), removed);
    assert.equal(shrink.replicas, 3);
    const gone = observed({ voters: [1, 2, 3], replicas: 3 });
    gone.volumes.push({ ordinal: 3, name: 'data-zk-3', volumeName: 'pv-3', terminating: false });
    assert.deepEqual(plan(cluster({ replicas: 3 }), gone).step, { kind: 'releaseVolume', ordinal: 3, pvc: 'data-zk-3', volumeName: 'pv-3' });
  });

  it('a scale-down is done only once the removed members\' pods and claims are gone', () => {
    const o = observed({ voters: [1, 2, 3], replicas: 3, pods: [pod(0), pod(1), pod(2), pod(3, { terminating: true })] });
    const p = plan(cluster({ replicas: 3 }), o);
    assert.deepEqual(p.step, { kind: 'wait', reason: 'Shrinking', message: 'removing the pods of removed members: zk-3' });
    const releasing = observed({ voters: [1, 2, 3] });
    releasing.volumes.push({ ordinal: 3, name: 'data-zk-3', terminating: true });
    assert.equal(plan(cluster({ replicas: 3 }), releasing).step.kind, 'wait');
  });

  it('a scale-up never reuses a volume left by an earlier member', () => {
    const o = observed({ voters: [1, 2, 3] });
    o.volumes.push({ ordinal: 3, name: 'data-zk-3', terminating: false });
    assert.equal(plan(cluster({ replicas: 5 }), o).step.kind, 'releaseVolume');
    o.volumes[3] = { ordinal: 3, name: 'data-zk-3', terminating: true };
    assert.equal(plan(cluster({ replicas: 5 }), o).step.kind, 'wait', 'waits until the old claim is gone');
  });

  it('a scale flip-flop (5 -> 3 -> 5 while removing) drops the removed member\'s pod before adding it back', () => {
    // Member 5 was removed, its pod still runs with stale data; then replicas went back to 5.
    const o = observed({ voters: [1, 2, 3, 4], replicas: 5 });
    const p = plan(cluster({ replicas: 5 }), o);
    assert.equal(p.replicas, 4, 'shrink first: the pod of the removed member goes with its data');
    assert.equal(p.step.kind, 'wait');
  });

  it('adds a member whichever member leads (a joiner learns the leader\'s address from it)', () => {
    assert.deepEqual(plan(cluster({ replicas: 5 }), observed({ voters: [1, 2, 3], leader: 2 })).step, { kind: 'addMember', id: 4 });
    const o = observed({ voters: [1, 2, 3], learners: [4], leader: 3 });
    o.raft!.reports.get(4)!.appliedIndex = 0;
    o.raft!.reports.get(4)!.caughtUp = false;
    assert.equal(plan(cluster({ replicas: 5 }), o).step.kind, 'wait');
  });

  it('a learner beyond the desired size is removed', () => {
    assert.deepEqual(plan(cluster({ replicas: 3 }), observed({ voters: [1, 2, 3], learners: [4] })).step, { kind: 'removeMember', id: 4 });
  });

  it('no leader, or another cluster\'s members: no membership change, Degraded', () => {
    const o = observed({ voters: [1, 2, 3] });
    delete o.raft;
    const p = plan(cluster({ replicas: 5 }), o);
    assert.ok(p.step.kind === 'wait' && p.step.degraded && p.step.reason === 'NoLeader');
    assert.equal(p.replicas, 3, 'a transient loss never shrinks the cluster');
    const other = observed({ voters: [1, 2, 3] });
    other.raft!.clusterId = 'other';
    const q = plan(cluster({ replicas: 5 }), other);
    assert.ok(q.step.kind === 'wait' && q.step.reason === 'ClusterMismatch');
  });

  it('a StatefulSet deleted by hand comes back with as many pods as there are volumes', () => {
    const o = observed({ voters: [1, 2, 3] });
    delete o.raft;
    delete o.statefulSet;
    assert.equal(plan(cluster({ replicas: 3 }), o).replicas, 3);
  });

  it('a hole in the ids (a member removed by hand below others) is reported, not guessed at', () => {
    const o = observed({ voters: [1, 3], replicas: 3 });
    const p = plan(cluster({ replicas: 3 }), o);
    assert.ok(p.step.kind === 'wait' && p.step.reason === 'MemberMissing' && p.step.degraded);
  });
});

describe('operator plan: rollouts', () => {
  const rolling = (leader = 1, updated: number[] = []) =>
    observed({ voters: [1, 2, 3], leader, revision: 'rev-2', pods: [0, 1, 2].map((k) => pod(k, updated.includes(k) ? { revision: 'rev-2', version: '2.0.0' } : {})) });

  it('replaces followers first, highest ordinal first, one at a time', () => {
    const p = plan(cluster({ version: '2.0.0' }), rolling(1));
    assert.deepEqual(p.step, { kind: 'replacePod', ordinal: 2, pod: 'zk-2', reason: 'rolling to the new template, followers first' });
    assert.equal(p.activity, 'Upgrading');
    assert.deepEqual(p.rollout, { updated: 0, total: 3, next: 'zk-2' });
    assert.equal(plan(cluster({ version: '2.0.0' }), rolling(1, [2])).step.kind, 'replacePod');
  });

  it('each step waits for every member to be a healthy caught-up voter', () => {
    const o = rolling(1, [2]);
    o.pods[2] = { ...o.pods[2]!, ready: false, createdAt: NOW - 5000 };
    const p = plan(cluster({ version: '2.0.0' }), o);
    assert.deepEqual(p.step, { kind: 'wait', reason: 'WaitingForMember', message: 'waiting for member 3 (zk-2) to be a healthy caught-up voter' });
    const lagging = rolling(1, [2]);
    lagging.raft!.reports.get(3)!.caughtUp = false;
    assert.equal(plan(cluster({ version: '2.0.0' }), lagging).step.kind, 'wait');
  });

  it('the leader last, after handing leadership to an updated member', () => {
    const p = plan(cluster({ version: '2.0.0' }), rolling(1, [1, 2]));
    assert.equal(p.step.kind, 'transferLeadership');
    assert.ok(p.step.kind === 'transferLeadership' && p.step.from === 1 && [2, 3].includes(p.step.to));
    const moved = plan(cluster({ version: '2.0.0' }), rolling(2, [1, 2]));
    assert.deepEqual(moved.step, { kind: 'replacePod', ordinal: 0, pod: 'zk-0', reason: 'rolling to the new template, followers first' });
  });

  it('a member failing at the new version stops the rollout with Degraded naming it', () => {
    const o = rolling(1, [2]);
    o.pods[2] = { ...o.pods[2]!, ready: false, crashLooping: true, problem: 'CrashLoopBackOff (last exit 1, Error)' };
    const p = plan(cluster({ version: '2.0.0' }), o);
    assert.ok(p.step.kind === 'wait' && p.step.degraded);
    assert.equal(p.step.kind === 'wait' && p.step.reason, 'MemberFailed');
    assert.match(p.step.kind === 'wait' ? p.step.message : '', /member 3 \(zk-2\) at version 2\.0\.0: CrashLoopBackOff/);
    const slow = rolling(1, [2]);
    slow.pods[2] = { ...slow.pods[2]!, ready: false, createdAt: NOW - 301_000 };
    assert.ok(plan(cluster({ version: '2.0.0' }), slow).step.kind === 'wait');
    assert.match(JSON.stringify(plan(cluster({ version: '2.0.0' }), slow).step), /after 301 s/);
  });

  it('a follower that is merely behind for a moment is waited for, never replaced without the gate', () => {
    const o = rolling(1, [2]);
    o.raft!.reports.get(2)!.caughtUp = false;
    o.pods[1] = { ...o.pods[1]!, ready: false, createdAt: NOW - 10_000 };
    const p = plan(cluster({ version: '2.0.0' }), o);
    assert.equal(p.step.kind, 'wait', JSON.stringify(p.step));
  });

  it('changing the version back rolls back, replacing the failed member first', () => {
    // zk-2 failed at rev-2; the version went back, so rev-1 is the template again.
    const o = observed({ voters: [1, 2, 3], revision: 'rev-1', pods: [pod(0), pod(1), pod(2, { revision: 'rev-2', version: '2.0.0', ready: false, crashLooping: true })] });
    const p = plan(cluster({ version: '1.0.0' }), o);
    assert.deepEqual(p.step, { kind: 'replacePod', ordinal: 2, pod: 'zk-2', reason: 'it is outdated and not serving' });
  });

  it('waits for the StatefulSet controller to see a new template', () => {
    const o = rolling(1);
    o.statefulSet!.upToDate = false;
    assert.equal(plan(cluster({ version: '2.0.0' }), o).step.kind, 'wait');
  });

  it('settled: nothing to do; an unhealthy member is reported after its grace period', () => {
    assert.deepEqual(plan(cluster(), observed({ voters: [1, 2, 3] })).step, { kind: 'none' });
    const o = observed({ voters: [1, 2, 3] });
    o.pods[1] = { ...o.pods[1]!, ready: false, createdAt: NOW - 1000 };
    assert.equal(plan(cluster(), o).step.kind, 'wait');
    assert.ok(!(plan(cluster(), o).step as { degraded?: boolean }).degraded, 'a restarting member is not a failure');
    o.pods[1] = { ...o.pods[1]!, crashLooping: true, problem: 'CrashLoopBackOff' };
    assert.ok((plan(cluster(), o).step as { degraded?: boolean }).degraded);
  });
});
