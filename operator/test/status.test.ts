// Status is a pure function of what was observed and of the plan: members, leader, versions,
// phase, and the five conditions, whose transition times survive unchanged statuses.
import assert from 'node:assert/strict';
import { plan } from '../src/controller/plan.js';
import { computeStatus } from '../src/controller/status.js';
import { cluster, NOW, observed, pod } from './fixtures.js';

const cond = (s: ReturnType<typeof computeStatus>, type: string) => s.conditions!.find((c) => c.type === type)!;

describe('operator status', () => {
  it('a settled cluster: Running, ready 3/3, leader, Available, nothing in progress', () => {
    const c = cluster();
    const o = observed({ voters: [1, 2, 3], leader: 2 });
    const s = computeStatus(c, o, plan(c, o), { phase: 'Running' });
    assert.equal(s.phase, 'Running');
    assert.equal(s.ready, '3/3');
    assert.equal(s.readyMembers, 3);
    assert.equal(s.leader, 'zk-1');
    assert.equal(s.currentVersion, '1.0.0');
    assert.equal(s.targetVersion, '1.0.0');
    assert.equal(s.observedGeneration, 1);
    assert.deepEqual(s.members?.map((m) => [m.id, m.pod, m.role, m.voter, m.healthy]), [
      [1, 'zk-0', 'Follower', true, true],
      [2, 'zk-1', 'Leader', true, true],
      [3, 'zk-2', 'Follower', true, true],
    ]);
    assert.deepEqual(s.conditions?.map((x) => [x.type, x.status]), [
      ['Available', 'True'], ['Progressing', 'False'], ['Degraded', 'False'], ['Scaling', 'False'], ['Upgrading', 'False'],
    ]);
  });

  it('a new cluster is Creating until all its members are ready, then never again', () => {
    const c = cluster({ replicas: 3 });
    const o = observed({ voters: [1, 2], learners: [3] });
    assert.equal(computeStatus(c, o, plan(c, o), undefined).phase, 'Creating');
    assert.equal(computeStatus(c, o, plan(c, o), { phase: 'Running' }).phase, 'Scaling');
  });

  it('scaling: Scaling and Progressing say what happens, e.g. which member joins', () => {
    const c = cluster({ replicas: 5 });
    const o = observed({ voters: [1, 2, 3], learners: [4] });
    o.raft!.reports.get(4)!.caughtUp = false;
    const s = computeStatus(c, o, plan(c, o), { phase: 'Running' });
    assert.equal(s.phase, 'Scaling');
    assert.equal(s.ready, '3/5');
    assert.equal(cond(s, 'Scaling').status, 'True');
    assert.equal(cond(s, 'Scaling').message, '3 -> 5 voters: member 4 (zk-3) joins as a learner and is catching up');
    assert.equal(s.members?.find((m) => m.id === 4)?.role, 'Learner');
  });

  it('a rollout shows its progress; currentVersion stays the old one until it is done', () => {
    const c = cluster({ version: '2.0.0' });
    const o = observed({ voters: [1, 2, 3], revision: 'rev-2', pods: [pod(0), pod(1), pod(2, { revision: 'rev-2', version: '2.0.0' })] });
    const s = computeStatus(c, o, plan(c, o), { phase: 'Running' });
    assert.equal(s.phase, 'Upgrading');
    assert.equal(s.currentVersion, '1.0.0');
    assert.equal(s.targetVersion, '2.0.0');
    assert.equal(cond(s, 'Upgrading').message, '1/3 members at the new template (version 2.0.0); next: zk-1');
  });

  it('a failed step is Degraded, naming the member', () => {
    const c = cluster({ version: '2.0.0' });
    const o = observed({ voters: [1, 2, 3], revision: 'rev-2', pods: [pod(0), pod(1), pod(2, { revision: 'rev-2', version: '2.0.0', ready: false, crashLooping: true, problem: 'CrashLoopBackOff (last exit 1)' })] });
    const s = computeStatus(c, o, plan(c, o), { phase: 'Upgrading' });
    assert.equal(s.phase, 'Degraded');
    assert.equal(cond(s, 'Degraded').status, 'True');
    assert.equal(cond(s, 'Degraded').reason, 'MemberFailed');
    assert.match(cond(s, 'Degraded').message, /member 3 \(zk-2\) at version 2\.0\.0: CrashLoopBackOff/);
  });

  it('no leader: not Available, Degraded', () => {
    const c = cluster();
    const o = observed({ voters: [1, 2, 3] });
    delete o.raft;
    o.reports.clear();
    const s = computeStatus(c, o, plan(c, o), { phase: 'Running' });
    assert.equal(cond(s, 'Available').status, 'False');
    assert.equal(cond(s, 'Available').reason, 'NoLeader');
    assert.equal(cond(s, 'Degraded').reason, 'NoLeader');
    assert.equal(s.leader, undefined);
  });

  it('keeps a condition\'s lastTransitionTime while its status does not change', () => {
    const c = cluster();
    const o = observed({ voters: [1, 2, 3] });
    const first = computeStatus(c, o, plan(c, o), { phase: 'Running' });
    const later = computeStatus(c, { ...o, now: NOW + 60_000 }, plan(c, o), first);
    assert.deepEqual(later, first);
    const sick = observed({ voters: [1, 2, 3] });
    delete sick.raft;
    const changed = computeStatus(c, { ...sick, now: NOW + 60_000 }, plan(c, sick), first);
    assert.equal(cond(changed, 'Available').lastTransitionTime, new Date(NOW + 60_000).toISOString().replace('.000Z', 'Z'));
    assert.equal(cond(changed, 'Scaling').lastTransitionTime, cond(first, 'Scaling').lastTransitionTime);
  });

  it('an invalid spec is Degraded with the problems', () => {
    const c = cluster();
    const o = observed({ voters: [1, 2, 3] });
    const s = computeStatus(c, o, plan(c, o), { phase: 'Running' }, ['spec.replicas 4: replicas must be odd']);
    assert.equal(cond(s, 'Degraded').reason, 'InvalidSpec');
  });
});
