/**
 * Scripted interaction tests of the Raft core: each builds a small cluster, drives it message by
 * message, and checks the tricky cases one at a time.
 */

import assert from 'node:assert/strict';
import {
  ConfChangeType,
  EntryType,
  InvalidConfChangeError,
  MemoryStorage,
  MessageType,
  NONE,
  ProgressState,
  ProposalDroppedError,
  RawNode,
  Role,
  type Message,
} from '../../src/raft/index.js';
import { ConclaveError } from '../../src/errors.js';
import { TestCluster, bytes } from './harness.js';

function dropped(reason: string) {
  return (error: unknown) => error instanceof ProposalDroppedError && error.reason === reason;
}

/** A 3-member cluster (or the given voters) with member 1 elected. */
function elected(voters = [1, 2, 3], options = {}): TestCluster {
  const c = new TestCluster(voters, options);
  c.campaign(voters[0]!);
  assert.equal(c.leader()?.id, voters[0]);
  return c;
}

describe('raft interactions', () => {
  describe('election', () => {
    it('elects the campaigning member with pre-vote, and commits its no-op everywhere', () => {
      const c = new TestCluster([1, 2, 3]);
      c.node(1).campaign();
      c.flushReadies();
      assert.deepEqual(
        c.queue.map((m) => [m.type, m.to, m.term]),
        [
          [MessageType.PreVote, 2, 1],
          [MessageType.PreVote, 3, 1],
        ],
      );
      // The pre-vote took no term.
      assert.equal(c.member(1).status().term, 0);
      c.stabilize();
      for (const id of [1, 2, 3]) {
        const s = c.member(id).status();
        assert.equal(s.term, 1);
        assert.equal(s.leader, 1);
        assert.equal(s.commit, 1);
        assert.equal(c.member(id).appliedIndex, 1);
      }
      assert.equal(c.member(1).status().role, Role.Leader);
      assert.equal(c.member(2).status().vote, 1);
    });

    it('elects a leader by ticks alone, with randomized timeouts', () => {
      const c = new TestCluster([1, 2, 3, 4, 5], { seed: 7 });
      c.run(25);
      const leader = c.leader();
      assert.ok(leader);
      for (const m of c.members.values()) assert.equal(m.status().leader, leader.id);
    });

    it('a candidate with a stale log loses, without disturbing the term', () => {
      // Without check-quorum there is no lease: only the log up-to-date check refuses 3.
      const c = elected([1, 2, 3], { checkQuorum: false });
      c.isolate(3);
      c.propose(1, 'a');
      c.heal();
      c.cut(1, 3);
      c.node(3).campaign();
      c.stabilize();
      assert.equal(c.member(3).status().role, Role.PreCandidate);
      assert.equal(c.member(3).status().term, 1);
      assert.equal(c.member(2).status().term, 1);
      assert.equal(c.member(2).status().leader, 1);
    });

    it('a candidate with a stale log loses a real vote too (pre-vote off)', () => {
      const c = elected([1, 2, 3], { checkQuorum: false, preVote: false });
      c.isolate(3);
      c.propose(1, 'a');
      c.heal();
      c.cut(1, 3);
      c.node(3).campaign();
      c.stabilize();
      assert.equal(c.member(3).status().role, Role.Candidate);
      // 2 took the new term but refused its vote.
      assert.equal(c.member(2).status().term, 2);
      assert.equal(c.member(2).status().vote, NONE);
    });

    it('a learner or a member outside the configuration never campaigns', () => {
      const c = new TestCluster([1], {});
      c.addMember(2);
      c.node(2).campaign();
      c.tick(2, 100);
      c.stabilize();
      assert.equal(c.member(2).status().role, Role.Follower);
      assert.equal(c.member(2).status().term, 0);
    });
  });

  describe('pre-vote and check-quorum', () => {
    it('a member rejoining from a partition neither bumps terms nor deposes the leader', () => {
      const c = elected();
      c.isolate(3);
      for (let i = 0; i < 100; i++) {
        c.tickAll();
        c.stabilize();
      }
      // It tried: pre-votes only, so its term did not move.
      assert.equal(c.member(3).status().term, 1);
      c.heal();
      c.node(3).campaign();
      c.stabilize();
      c.run(30);
      for (const id of [1, 2, 3]) {
        assert.equal(c.member(id).status().term, 1, `term of ${id}`);
        assert.equal(c.member(id).status().leader, 1, `leader of ${id}`);
      }
      c.propose(1, 'after');
      assert.deepEqual(c.member(3).state, ['after']);
    });

    it('followers ignore a higher-term vote while their leader lease holds', () => {
      const c = elected();
      const vote: Message = {
        type: MessageType.Vote,
        to: 2,
        from: 3,
        term: 5,
        logTerm: 1,
        index: 100,
        entries: [],
        commit: 0,
        reject: false,
        rejectHint: 0,
        commitOnly: false,
      };
      c.node(2).step(vote);
      c.flushReadies();
      assert.equal(c.member(2).status().term, 1);
      assert.equal(c.queue.length, 0);
    });

    it('followers that lose the connection from their dead leader elect another within half an election timeout', () => {
      // Without the report, no follower campaigns before a whole election timeout (10 ticks).
      for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
        const c = elected([1, 2, 3], { seed });
        c.isolate(1);
        c.node(2).reportDisconnected(1);
        c.node(3).reportDisconnected(1);
        let ticks = 0;
        while (c.leader()?.id === 1 || c.leader() === undefined) {
          assert.ok(ticks < 6, `seed ${seed}: no new leader after ${ticks} ticks`);
          // Messages take far less than a tick: each member's tick is followed by delivery.
          c.tick(2);
          c.stabilize();
          c.tick(3);
          c.stabilize();
          ticks++;
        }
        const leader = c.leader()!;
        assert.ok(leader.id === 2 || leader.id === 3);
        assert.equal(leader.status().term, 2);
      }
    });

    it('a follower that loses the connection from a live leader disturbs nobody and follows it again', () => {
      const c = elected();
      c.cutOneWay(1, 2); // the leader's stream to 2 broke: 2 hears nothing from it
      c.node(2).reportDisconnected(1);
      c.run(5);
      assert.ok(c.delivered.some((m) => m.type === MessageType.PreVote && m.from === 2), 'it campaigned early');
      for (const id of [1, 2, 3]) assert.equal(c.member(id).status().term, 1, `term of ${id}`);
      assert.equal(c.member(1).status().role, Role.Leader);
      c.heal();
      c.run(3);
      assert.equal(c.member(2).status().role, Role.Follower);
      assert.equal(c.member(2).status().leader, 1);
      // Heard from its leader again, it is back on the usual timeout: a short silence is no reason to campaign.
      c.cutOneWay(1, 2);
      const before = c.delivered.length;
      c.run(9);
      assert.ok(!c.delivered.slice(before).some((m) => m.type === MessageType.PreVote), 'campaigned before an election timeout');
      c.propose(1, 'after');
      c.heal();
      c.run(3);
      assert.deepEqual(c.member(2).state, ['after']);
    });

    it('a lost connection from a member that is not the leader changes nothing', () => {
      const c = elected();
      c.cutOneWay(1, 2);
      c.node(2).reportDisconnected(3);
      c.node(1).reportDisconnected(2);
      const before = c.delivered.length;
      c.run(9);
      assert.ok(!c.delivered.slice(before).some((m) => m.type === MessageType.PreVote), 'campaigned before an election timeout');
      assert.equal(c.member(1).status().role, Role.Leader);
    });

    it('a leader that loses its quorum steps down within two election timeouts', () => {
      const c = elected();
      c.isolate(1);
      // The first check counts what it heard before the partition.
      c.tick(1, 10);
      assert.equal(c.member(1).status().role, Role.Leader);
      c.tick(1, 9);
      assert.equal(c.member(1).status().role, Role.Leader);
      c.tick(1, 1);
      assert.equal(c.member(1).status().role, Role.Follower);
      assert.equal(c.member(1).status().leader, NONE);
      assert.throws(() => c.node(1).propose(bytes('x')), dropped('no-leader'));
      // The majority side elects a new leader meanwhile.
      c.run(30);
      const leader = c.leader()!;
      assert.ok(leader.id === 2 || leader.id === 3);
      assert.equal(leader.status().term, 2);
      c.heal();
      c.run(5);
      assert.equal(c.member(1).status().leader, leader.id);
      assert.equal(c.member(1).status().term, 2);
    });

    it('a leader that hears from a quorum stays', () => {
      const c = elected();
      c.isolate(3);
      c.run(50);
      assert.equal(c.member(1).status().role, Role.Leader);
      assert.equal(c.member(1).status().term, 1);
    });

    it('a stale leader on the minority side steps down when it hears the higher term', () => {
      const c = elected([1, 2, 3], { checkQuorum: false });
      c.isolate(1);
      c.campaign(2); // pre-vote of 2 is granted by 3 (no lease without check-quorum)
      assert.equal(c.leader()?.id, 2);
      assert.equal(c.member(1).status().role, Role.Leader);
      c.heal();
      c.propose(1, 'lost'); // the old leader appends, but cannot commit
      c.run(3);
      assert.equal(c.member(1).status().role, Role.Follower);
      assert.equal(c.member(1).status().leader, 2);
      assert.deepEqual(c.member(1).state, []);
    });
  });

  describe('replication', () => {
    it('replicates and commits proposals made on the leader and on followers', () => {
      const c = elected();
      c.propose(1, 'a');
      c.propose(2, 'b'); // forwarded to the leader
      for (const id of [1, 2, 3]) assert.deepEqual(c.member(id).state, ['a', 'b']);
    });

    it('tells followers the commit index in MsgApps they do not answer, unless their log does not match', () => {
      const c = elected();
      c.propose(1, 'a');
      c.stabilize();
      const delivered = c.delivered.length;
      c.node(1).propose(bytes('b'));
      c.stabilize();
      const exchange = c.delivered.slice(delivered).map((m) => [m.type, m.from, m.to, m.entries.length, m.commitOnly]);
      assert.deepEqual(exchange, [
        [MessageType.App, 1, 2, 1, false],
        [MessageType.App, 1, 3, 1, false],
        [MessageType.AppResp, 2, 1, 0, false],
        [MessageType.AppResp, 3, 1, 0, false],
        // the commit index, to each follower (3's ack was stepped after the message was queued, before it left); neither answers
        [MessageType.App, 1, 2, 0, true],
        [MessageType.App, 1, 3, 0, true],
      ]);
      for (const id of [1, 2, 3]) assert.deepEqual(c.member(id).state, ['a', 'b']);
      // A member that lost what the leader counts on (here: a commit-only MsgApp past its log) still answers, rejecting.
      const last = c.member(2).status().commit;
      c.deliver({ ...c.delivered.at(-1)!, to: 2, index: last + 5, logTerm: 1, commitOnly: true });
      c.flushReadies();
      const answer = c.queue.find((m) => m.from === 2 && m.type === MessageType.AppResp);
      assert.equal(answer?.reject, true);
    });

    it('a member applies what a quorum committed while its own write of it runs (takeCommittedEntries), never beyond what it handed out to persist', () => {
      const c = elected();
      const leader = c.member(1);
      const text = (entries: { data: Uint8Array }[]) => entries.map((e) => new TextDecoder().decode(e.data));
      c.node(1).propose(bytes('a'));
      const rd = c.node(1).ready(); // the leader now writes 'a' to its log...
      c.queue.push(...rd.messages);
      assert.deepEqual(c.node(1).takeCommittedEntries(), [], 'nothing committed yet');
      c.node(1).propose(bytes('b')); // ...and 'b' arrives during that write: not handed out to persist yet
      c.queue.push(...c.node(1).takeLeaderReplication());
      // Both followers write and ack 'a' and 'b' while the leader's write of 'a' runs.
      c.deliverWhere((m) => m.to !== 1);
      c.flushReadies();
      c.deliverWhere((m) => m.to === 1);
      assert.equal(c.node(1).status().commit, rd.entries.at(-1)!.index + 1, 'a and b are committed by the followers');
      assert.deepEqual(text(c.node(1).takeCommittedEntries()), ['a'], "'a' before the leader's write returns; not 'b', which it has not started writing");
      assert.deepEqual(c.node(1).takeCommittedEntries(), [], 'taken once');
      leader.storage.append(rd.entries);
      if (rd.hardState) leader.storage.setHardState(rd.hardState);
      c.node(1).advance(rd);
      assert.equal(c.node(1).status().applied, rd.entries.at(-1)!.index, 'advance() counts the taken entries applied');
      const next = c.node(1).ready();
      assert.deepEqual(text(next.committedEntries), ['b'], 'the next Ready hands out only what was not taken');
      assert.deepEqual(c.node(2).takeCommittedEntries(), [], 'nothing outstanding on a member between Readies');
    });

    it('a leader sends no replication early while its new term is not on disk (isTermDurable)', () => {
      // A single voter with a learner elects itself in one step: one Ready carries the new term and
      // the first MsgApp to the learner.
      const c = new TestCluster([], { preVote: false });
      for (const id of [1, 2]) c.addMember(id, { voters: [1], learners: [2] });
      c.node(1).campaign();
      c.node(1).propose(bytes('a'));
      assert.equal(c.member(1).status().role, Role.Leader);
      assert.equal(c.node(1).isTermDurable(), false, 'the term is not persisted yet');
      const rd = c.node(1).ready();
      assert.equal(rd.hardState?.term, 1);
      assert.ok(rd.messages.some((m) => m.type === MessageType.App && m.to === 2 && m.term === 1), 'the Ready holds a MsgApp of term 1 to the learner');
      assert.deepEqual(c.node(1).replicationFirst(rd.messages).early, [], 'none of it may leave before the write');
      c.node(1).propose(bytes('b')); // proposed while that Ready is written
      c.tick(1); // and a heartbeat is due
      assert.deepEqual(c.node(1).takeLeaderReplication(), [], 'nothing leaves before the term is durable');
      c.member(1).storage.append(rd.entries);
      c.member(1).storage.setHardState(rd.hardState!);
      c.queue.push(...rd.messages);
      c.node(1).advance(rd);
      assert.equal(c.node(1).isTermDurable(), true);
      c.stabilize();
      assert.deepEqual(c.member(2).state, ['a', 'b'], 'the learner gets everything once the term is durable');
    });

    it('pipelines many MsgApp to a follower without waiting for answers', () => {
      const c = elected([1, 2, 3], { maxSizePerMsg: 1 });
      // Replicate state after the first exchange: every proposal goes out at once.
      for (let i = 0; i < 5; i++) c.node(1).propose(bytes(`p${i}`));
      c.flushReadies();
      const apps = c.queue.filter((m) => m.type === MessageType.App && m.to === 2);
      assert.equal(apps.length, 5);
      c.stabilize();
      assert.equal(c.member(3).state.length, 5);
    });

    it('a leader fsyncing one batch sends the next at once (takeLeaderReplication), and still persists it', () => {
      const c = elected();
      const leader = c.member(1);
      c.node(1).propose(bytes('a'));
      const rd = c.node(1).ready(); // the leader now writes 'a' to its log
      c.queue.push(...rd.messages);
      c.node(1).propose(bytes('b')); // proposed during that fsync
      const early = c.node(1).takeLeaderReplication();
      for (const to of [2, 3]) {
        const app = early.find((m) => m.type === MessageType.App && m.to === to);
        assert.deepEqual(app?.entries.map((e) => new TextDecoder().decode(e.data)), ['b'], `MsgApp of 'b' to ${to} before the leader's fsync ends`);
      }
      assert.deepEqual(c.node(2).takeLeaderReplication(), [], 'a follower sends nothing early');
      c.queue.push(...early);
      // The followers store and acknowledge both while the leader is still busy.
      c.deliverWhere((m) => m.to !== 1);
      c.flushReadies();
      // The leader's fsync of 'a' ends; its next Ready still persists 'b'.
      leader.storage.append(rd.entries);
      if (rd.hardState) leader.storage.setHardState(rd.hardState);
      c.node(1).advance(rd);
      assert.ok(c.node(1).hasReady());
      const next = c.node(1).ready();
      assert.deepEqual(next.entries.map((e) => new TextDecoder().decode(e.data)), ['b']);
      leader.storage.append(next.entries);
      if (next.hardState) leader.storage.setHardState(next.hardState);
      c.queue.push(...next.messages);
      for (const e of next.committedEntries) {
        leader.appliedIndex = e.index;
        if (e.data.length > 0) leader.state.push(new TextDecoder().decode(e.data));
      }
      c.node(1).advance(next);
      c.stabilize();
      for (const id of [1, 2, 3]) assert.deepEqual(c.member(id).state, ['a', 'b'], `member ${id}`);
    });

    it('batches entries up to maxSizePerMsg when a follower catches up', () => {
      const c = elected([1, 2, 3], { maxSizePerMsg: 200 });
      c.isolate(3);
      for (let i = 0; i < 20; i++) c.propose(1, 'x'.repeat(50));
      c.heal();
      c.delivered = [];
      c.run(2);
      const apps = c.delivered.filter((m) => m.type === MessageType.App && m.to === 3 && m.entries.length > 0);
      assert.ok(apps.length >= 5, `${apps.length} MsgApp`);
      assert.ok(apps.every((m) => m.entries.length <= 3));
      assert.equal(c.member(3).state.length, 20);
    });

    it('a full inflight window pauses replication until acknowledgements free it', () => {
      const c = elected([1, 2, 3], { maxInflightMsgs: 2, maxSizePerMsg: 1 });
      for (let i = 0; i < 5; i++) c.node(1).propose(bytes(`p${i}`));
      c.flushReadies();
      assert.equal(c.queue.filter((m) => m.type === MessageType.App && m.to === 2).length, 2);
      c.stabilize();
      assert.equal(c.member(2).state.length, 5);
    });

    it('commits only through an entry of the current term (no counting of older entries)', () => {
      // Figure 8 of the Raft paper, reduced: entry 2 of term 1 sits on a majority under the new
      // leader of term 2, yet is not committed until the leader's own no-op is.
      const c = elected([1, 2, 3, 4, 5], { maxSizePerMsg: 1, checkQuorum: false });
      for (const id of [3, 4, 5]) c.cut(1, id);
      c.propose(1, 'old');
      assert.equal(c.member(1).status().commit, 1);
      c.heal();
      c.isolate(1);
      c.node(2).campaign();
      // Deliver everything, but strip the new no-op (index 3) from every MsgApp.
      for (let i = 0; i < 20; i++) {
        c.flushReadies();
        const batch = c.queue;
        c.queue = [];
        for (const m of batch) c.deliver({ ...m, entries: m.entries.filter((e) => e.index < 3) });
      }
      assert.equal(c.leader()?.id, 2);
      const pr = c.member(2).status().progress!;
      assert.deepEqual([3, 4, 5].map((id) => pr.get(id)!.match), [2, 2, 2], 'entry 2 is on every member');
      assert.equal(c.member(2).status().commit, 1, 'but it is of term 1: not committed by counting');
      // Heartbeats reveal that the no-op was lost and it is sent again.
      c.run(2);
      assert.equal(c.member(2).status().commit, 3);
      for (const id of [2, 3, 4, 5]) assert.deepEqual(c.member(id).state, ['old']);
    });
  });

  describe('log divergence', () => {
    it('repairs diverging followers with few round trips (fast backtracking)', () => {
      // Logs built by hand (terms per index), as Figure 7 of the Raft paper.
      const logs: Record<number, number[]> = {
        1: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6],
        2: [1, 1, 1, 4, 4, 5, 5, 6, 6],
        3: [1, 1, 1, 4],
        4: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
        5: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
        6: [1, 1, 1, 4, 4, 4, 4],
        7: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
      };
      const voters = [1, 2, 3, 4, 5, 6, 7];
      const c = new TestCluster([]);
      for (const id of voters) {
        const m = c.addMember(id, { voters, learners: [] });
        m.storage.append(logs[id]!.map((term, i) => ({ term, index: i + 1, type: EntryType.Normal, data: bytes(`${id}:${i}`) })));
        m.storage.setHardState({ term: 7, vote: 0, commit: 0 });
        m.restart();
      }
      // 5 has the most up-to-date log (term 7) and wins.
      c.node(5).campaign();
      c.stabilize();
      assert.equal(c.leader()?.id, 5);
      const rejections = c.delivered.filter((m) => m.type === MessageType.AppResp && m.reject).length;
      assert.ok(rejections <= 7, `${rejections} rejections`);
      const leaderLog = c.member(5).storage.entries(1, 14, Infinity).map((e) => e.term);
      for (const id of voters) {
        assert.deepEqual(c.member(id).storage.entries(1, 14, Infinity).map((e) => e.term), leaderLog, `log of ${id}`);
      }
    });
  });

  describe('snapshots', () => {
    it('catches up a lagging member by snapshot after compaction', () => {
      const c = elected();
      c.isolate(3);
      for (let i = 0; i < 10; i++) c.propose(1, `e${i}`);
      c.member(1).compact();
      c.member(2).compact();
      assert.equal(c.member(1).storage.firstIndex(), 12);
      c.heal();
      c.delivered = [];
      c.run(3);
      const snaps = c.delivered.filter((m) => m.type === MessageType.Snap);
      assert.equal(snaps.length, 1);
      assert.equal(snaps[0]!.snapshot!.index, 11);
      assert.equal(c.member(3).storage.snapshot().index, 11);
      c.propose(1, 'after');
      assert.deepEqual(c.member(3).state, c.member(1).state);
      assert.equal(c.member(1).status().progress!.get(3)!.state, ProgressState.Replicate);
    });

    it('retries after a failed snapshot transfer', () => {
      const c = elected();
      c.isolate(3);
      for (let i = 0; i < 5; i++) c.propose(1, `e${i}`);
      c.member(1).compact();
      c.heal();
      c.dropWhere = (m) => m.type === MessageType.Snap;
      c.delivered = [];
      c.run(3);
      assert.notEqual(c.member(1).status().progress!.get(3)!.state, ProgressState.Replicate);
      assert.deepEqual(c.member(3).state, []);
      c.dropWhere = undefined;
      c.run(3);
      assert.deepEqual(c.member(3).state, c.member(1).state);
    });

    it('restarts from a snapshot and the log after it', () => {
      const c = elected();
      for (let i = 0; i < 4; i++) c.propose(1, `e${i}`);
      c.member(2).compact();
      c.propose(1, 'e4');
      c.member(2).restart();
      c.run(2);
      assert.deepEqual(c.member(2).state, ['e0', 'e1', 'e2', 'e3', 'e4']);
      assert.equal(c.member(2).status().term, 1);
    });
  });

  describe('membership', () => {
    it('adds a learner that catches up, does not vote, and is promoted to voter', () => {
      const c = elected();
      c.propose(1, 'a');
      c.addMember(4);
      c.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, memberId: 4, context: bytes('addr-4') });
      c.stabilize();
      c.run(3);
      assert.deepEqual(c.member(4).state, ['a']);
      assert.deepEqual(c.member(4).conf, { voters: [1, 2, 3], learners: [4] });
      assert.deepEqual(c.member(1).conf, { voters: [1, 2, 3], learners: [4] });
      const pr = c.member(1).status().progress!.get(4)!;
      assert.equal(pr.isLearner, true);
      assert.equal(pr.match, c.member(1).status().lastIndex);
      // Not counted in quorums: with 2 and 3 away, nothing commits.
      c.isolate(2);
      c.isolate(3);
      c.cut(1, 2);
      const commit = c.member(1).status().commit;
      c.node(1).propose(bytes('b'));
      c.stabilize();
      assert.equal(c.member(1).status().commit, commit);
      c.heal();
      c.stabilize();
      // Never campaigns.
      c.node(4).campaign();
      c.stabilize();
      assert.equal(c.member(4).status().role, Role.Follower);

      c.node(1).proposeConfChange({ type: ConfChangeType.Promote, memberId: 4 });
      c.stabilize();
      c.run(2);
      for (const id of [1, 2, 3, 4]) assert.deepEqual(c.member(id).conf, { voters: [1, 2, 3, 4], learners: [] });
      c.node(4).transferLeadership(4);
      c.stabilize();
      assert.equal(c.leader()?.id, 4);
    });

    it('a joining learner catches up by snapshot when the log is compacted', () => {
      const c = elected();
      for (let i = 0; i < 3; i++) c.propose(1, `e${i}`);
      c.member(1).compact();
      c.addMember(4);
      c.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, memberId: 4 });
      c.stabilize();
      c.run(3);
      // The snapshot predates the addition: 4 learns of it from the entry after the snapshot.
      assert.deepEqual(c.member(4).state, ['e0', 'e1', 'e2']);
      assert.deepEqual(c.member(4).conf, { voters: [1, 2, 3], learners: [4] });
    });

    it('accepts one conf change at a time and refuses invalid ones', () => {
      const c = elected();
      assert.throws(
        () => c.node(1).proposeConfChange({ type: ConfChangeType.Promote, memberId: 9 }),
        InvalidConfChangeError,
      );
      assert.throws(
        () => c.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, memberId: 2 }),
        InvalidConfChangeError,
      );
      c.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, memberId: 4 });
      assert.throws(
        () => c.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, memberId: 5 }),
        dropped('conf-change-pending'),
      );
      c.stabilize();
      c.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, memberId: 5 });
      c.stabilize();
      assert.deepEqual(c.member(2).conf, { voters: [1, 2, 3], learners: [4, 5] });
    });

    it('a new leader proposes no conf change before its log from earlier terms is applied', () => {
      const c = elected([1, 2, 3], { checkQuorum: false });
      // Entry 2 reaches 2 only, and 2 never learns it was committed.
      c.node(1).propose(bytes('x'));
      c.deliverWhere((m) => m.type === MessageType.App && m.to === 2);
      c.isolate(1);
      c.node(2).campaign();
      for (let i = 0; i < 10; i++) c.deliverWhere((m) => m.type !== MessageType.App);
      assert.equal(c.leader()?.id, 2);
      assert.throws(
        () => c.node(2).proposeConfChange({ type: ConfChangeType.AddLearner, memberId: 4 }),
        dropped('conf-change-pending'),
      );
      c.stabilize();
      assert.deepEqual(c.member(2).state, ['x']);
      c.node(2).proposeConfChange({ type: ConfChangeType.AddLearner, memberId: 4 });
    });

    it('removes a follower', () => {
      const c = elected();
      c.node(1).proposeConfChange({ type: ConfChangeType.Remove, memberId: 3 });
      c.stabilize();
      c.run(2);
      for (const id of [1, 2]) assert.deepEqual(c.member(id).conf, { voters: [1, 2], learners: [] });
      c.isolate(3);
      c.propose(1, 'two of two');
      assert.deepEqual(c.member(2).state, ['two of two']);
      // The removed member may try to campaign; nobody listens to it while the leader is alive.
      c.heal();
      c.run(40);
      assert.equal(c.member(1).status().role, Role.Leader);
      assert.equal(c.member(1).status().term, 1);
    });

    it('removes the leader: it steps down once the removal is applied and hands over at once', () => {
      const c = elected();
      c.propose(1, 'a');
      c.node(1).proposeConfChange({ type: ConfChangeType.Remove, memberId: 1 });
      c.stabilize();
      // No ticks needed: the old leader told the most up-to-date voter to campaign.
      const leader = c.leader();
      assert.ok(leader !== undefined && leader.id !== 1, `leader ${leader?.id}`);
      assert.equal(c.member(1).status().role, Role.Follower);
      assert.throws(() => c.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, memberId: 1 }));
      c.propose(leader.id, 'b');
      for (const id of [2, 3]) {
        assert.deepEqual(c.member(id).conf, { voters: [2, 3], learners: [] });
        assert.deepEqual(c.member(id).state, ['a', 'b']);
      }
      c.run(50);
      assert.equal(c.member(1).status().role, Role.Follower);
      assert.equal(c.leader()?.id, leader.id);
    });

    it('does not campaign while a committed conf change is not applied', () => {
      const c = elected([1, 2, 3], { checkQuorum: false });
      c.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, memberId: 4 });
      c.flushReadies();
      const app = c.queue.find((m) => m.type === MessageType.App && m.to === 3)!;
      c.queue = [];
      const index = app.entries.find((e) => e.type === EntryType.ConfChange)!.index;
      // 3 learns the entry is committed, but has not handled the Ready that applies it.
      c.node(3).step({ ...app, commit: index });
      c.node(3).campaign();
      assert.equal(c.member(3).status().role, Role.Follower);
      c.flushReadies();
      assert.deepEqual(c.member(3).conf, { voters: [1, 2, 3], learners: [4] });
      c.node(3).campaign();
      assert.equal(c.member(3).status().role, Role.PreCandidate);
    });

    it('a candidate learns the commit index from a refused vote (removed leader with the longest log)', () => {
      const c = elected([1, 2], { checkQuorum: false, maxSizePerMsg: 1 });
      c.node(1).proposeConfChange({ type: ConfChangeType.Remove, memberId: 1 });
      c.node(1).propose(bytes('tail'));
      c.flushReadies();
      const removal = c.queue.find((m) => m.type === MessageType.App && m.entries.some((e) => e.type === EntryType.ConfChange))!;
      c.queue = [];
      c.node(2).step(removal);
      c.deliverWhere((m) => m.to === 1); // 1 commits and applies its removal, and steps down
      c.flushReadies();
      c.queue = []; // whatever 1 would tell 2 is lost
      assert.equal(c.member(1).status().role, Role.Follower);
      assert.deepEqual(c.member(1).conf, { voters: [2], learners: [] });
      // 2 still needs 1's vote ({1, 2}), which 1 refuses: its log is longer. The refusal carries
      // 1's commit index, so 2 applies the removal and can then win alone.
      assert.deepEqual(c.member(2).conf, { voters: [1, 2], learners: [] });
      c.node(2).campaign();
      c.stabilize();
      assert.deepEqual(c.member(2).conf, { voters: [2], learners: [] });
      c.node(2).campaign();
      c.stabilize();
      assert.equal(c.leader()?.id, 2);
    });

    it('re-adds a removed member, which keeps its data, as a learner', () => {
      const c = elected();
      c.node(1).proposeConfChange({ type: ConfChangeType.Remove, memberId: 3 });
      c.stabilize();
      c.run(2);
      c.propose(1, 'while away');
      c.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, memberId: 3 });
      c.stabilize();
      c.run(2);
      assert.deepEqual(c.member(3).state, ['while away']);
      assert.deepEqual(c.member(3).conf, { voters: [1, 2], learners: [3] });
    });
  });

  describe('leadership transfer', () => {
    it('transfers to an up-to-date follower', () => {
      const c = elected();
      c.node(1).transferLeadership(2);
      c.stabilize();
      assert.equal(c.leader()?.id, 2);
      assert.equal(c.member(2).status().term, 2);
      assert.equal(c.member(1).status().leader, 2);
    });

    it('transfers to a lagging member after catching it up, dropping proposals meanwhile', () => {
      const c = elected();
      c.isolate(3);
      for (let i = 0; i < 5; i++) c.propose(1, `e${i}`);
      c.heal();
      c.node(1).transferLeadership(3);
      assert.equal(c.member(1).status().leadTransferee, 3);
      assert.throws(() => c.node(1).propose(bytes('no')), dropped('leadership-transfer'));
      c.stabilize();
      assert.equal(c.leader()?.id, 3);
      assert.deepEqual(c.member(3).state, ['e0', 'e1', 'e2', 'e3', 'e4']);
    });

    it('is forwarded by a follower to the leader', () => {
      const c = elected();
      c.node(3).transferLeadership(3);
      c.stabilize();
      assert.equal(c.leader()?.id, 3);
    });

    it('is aborted after an election timeout if the transferee does not take over', () => {
      const c = elected();
      c.isolate(3);
      c.node(1).transferLeadership(3);
      c.stabilize();
      c.tick(1, 9);
      assert.equal(c.member(1).status().leadTransferee, 3);
      c.tick(1, 1);
      assert.equal(c.member(1).status().leadTransferee, NONE);
      c.propose(1, 'ok again');
      assert.deepEqual(c.member(2).state, ['ok again']);
    });

    it('ignores a transfer to a learner', () => {
      const c = elected();
      c.addMember(4);
      c.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, memberId: 4 });
      c.stabilize();
      c.node(1).transferLeadership(4);
      assert.equal(c.member(1).status().leadTransferee, NONE);
    });
  });

  describe('ReadIndex', () => {
    it('serves a read on the leader after a heartbeat quorum', () => {
      const c = elected();
      c.propose(1, 'a');
      c.node(1).readIndex(bytes('r1'));
      c.flushReadies();
      assert.deepEqual(c.member(1).readStates, []);
      const heartbeats = c.queue.filter((m) => m.type === MessageType.Heartbeat);
      assert.equal(heartbeats.length, 2);
      c.stabilize();
      assert.deepEqual(c.member(1).readStates, [{ index: 2, context: bytes('r1') }]);
    });

    it('serves a read forwarded by a follower', () => {
      const c = elected();
      c.propose(1, 'a');
      c.node(3).readIndex(bytes('r3'));
      c.stabilize();
      assert.deepEqual(c.member(3).readStates, [{ index: 2, context: bytes('r3') }]);
    });

    it('never answers without a quorum', () => {
      const c = elected();
      c.isolate(1);
      c.node(1).readIndex(bytes('r'));
      c.stabilize();
      c.tick(1, 5);
      c.stabilize();
      assert.deepEqual(c.member(1).readStates, []);
    });

    it('answers reads of one heartbeat round together, even if only a later heartbeat gets through', () => {
      const c = elected();
      c.cut(1, 2);
      c.cut(1, 3);
      c.node(1).readIndex(bytes('a'));
      c.node(1).readIndex(bytes('b'));
      c.stabilize();
      c.heal();
      c.tick(1); // a plain heartbeat carries the latest read's context
      c.stabilize();
      assert.deepEqual(
        c.member(1).readStates.map((r) => r.context),
        [bytes('a'), bytes('b')],
      );
    });

    it('waits until the new leader committed an entry of its term', () => {
      const c = elected([1, 2, 3], { checkQuorum: false });
      c.propose(1, 'a');
      c.isolate(1);
      c.node(2).campaign();
      for (let i = 0; i < 10; i++) c.deliverWhere((m) => m.type !== MessageType.App);
      assert.equal(c.leader()?.id, 2);
      // The no-op of term 2 is not committed yet: the read waits, with no heartbeat round.
      c.node(2).readIndex(bytes('r'));
      c.flushReadies();
      assert.ok(!c.queue.some((m) => m.type === MessageType.Heartbeat));
      c.stabilize();
      const commit = c.member(2).status().commit;
      assert.deepEqual(c.member(2).readStates, [{ index: commit, context: bytes('r') }]);
      assert.equal(c.member(2).status().term, 2);
    });

    it('throws without a known leader', () => {
      const c = new TestCluster([1, 2, 3]);
      assert.throws(() => c.node(2).readIndex(bytes('r')), dropped('no-leader'));
    });
  });

  describe('proposal back-pressure', () => {
    it('drops proposals when no leader is known', () => {
      const c = new TestCluster([1, 2, 3]);
      assert.throws(() => c.node(1).propose(bytes('x')), dropped('no-leader'));
      assert.throws(
        () => c.node(1).propose(bytes('x')),
        (e: unknown) => e instanceof ConclaveError && e.code === 'UNAVAILABLE' && e.name === 'ProposalDroppedError',
      );
      c.node(1).campaign();
      // A pre-candidate has no leader either.
      assert.throws(() => c.node(1).propose(bytes('x')), dropped('no-leader'));
    });

    it('drops proposals past the uncommitted-size limit, and accepts them once committed', () => {
      const c = elected([1, 2, 3], { maxUncommittedEntriesSize: 100 });
      c.isolate(1);
      c.node(1).propose(new Uint8Array(60));
      c.node(1).propose(new Uint8Array(40));
      assert.throws(() => c.node(1).propose(new Uint8Array(1)), dropped('uncommitted-limit'));
      assert.throws(
        () => c.node(1).propose(new Uint8Array(1)),
        (e: unknown) => e instanceof ConclaveError && e.code === 'RESOURCE_EXHAUSTED',
      );
      c.heal();
      c.stabilize();
      c.node(1).propose(new Uint8Array(90));
      c.stabilize();
      assert.equal(c.member(3).state.length, 3);
    });

    it('a single oversized proposal is accepted on an empty uncommitted tail', () => {
      const c = elected([1, 2, 3], { maxUncommittedEntriesSize: 10 });
      c.node(1).propose(new Uint8Array(50));
      c.stabilize();
      assert.equal(c.member(2).state.length, 1);
    });
  });
});

describe('raft Ready contract', () => {
  function single(): { node: RawNode; storage: MemoryStorage } {
    const storage = new MemoryStorage();
    storage.applySnapshot({ index: 0, term: 0, conf: { voters: [1], learners: [] } });
    return { storage, node: new RawNode({ id: 1, storage, random: () => 0 }) };
  }

  it('a single voter commits its entries only after the Ready persisting them is advanced', () => {
    const { node, storage } = single();
    node.campaign();
    const rd1 = node.ready();
    assert.equal(rd1.softState?.role, Role.Leader);
    assert.deepEqual(rd1.hardState, { term: 1, vote: 1, commit: 0 });
    assert.equal(rd1.entries.length, 1);
    assert.equal(rd1.committedEntries.length, 0);
    assert.equal(rd1.mustSync, true);
    assert.equal(node.hasReady(), false, 'no Ready while one is outstanding');
    assert.throws(() => node.ready());
    storage.append(rd1.entries);
    storage.setHardState(rd1.hardState!);
    node.advance(rd1);
    const rd2 = node.ready();
    assert.deepEqual(rd2.committedEntries.map((e) => e.index), [1]);
    assert.deepEqual(rd2.hardState, { term: 1, vote: 1, commit: 1 });
    assert.equal(rd2.mustSync, false, 'a commit index alone needs no fsync');
    node.advance(rd2);
    assert.equal(node.status().applied, 1);
    assert.equal(node.hasReady(), false);
  });

  it('a follower may apply entries handed out for persistence in the same Ready', () => {
    const c = elected();
    c.node(1).propose(bytes('x'));
    c.flushReadies();
    const app = c.queue.find((m) => m.type === MessageType.App && m.to === 2)!;
    c.node(2).step({ ...app, commit: 2 }); // as if the commit index was already known
    const rd = c.node(2).ready();
    assert.deepEqual(rd.entries.map((e) => e.index), [2]);
    assert.deepEqual(rd.committedEntries.map((e) => e.index), [2]);
  });

  it('keeps messages and entries produced between ready() and advance() for the next Ready', () => {
    const c = elected();
    const n = c.node(1);
    n.propose(bytes('a'));
    const rd1 = n.ready();
    n.propose(bytes('b'));
    assert.equal(rd1.entries.length, 1);
    c.member(1).storage.append(rd1.entries);
    n.advance(rd1);
    const rd2 = n.ready();
    assert.deepEqual(rd2.entries.map((e) => e.index), [3]);
    assert.ok(rd2.messages.some((m) => m.type === MessageType.App && m.entries.some((e) => e.index === 3)));
    c.member(1).storage.append(rd2.entries);
    n.advance(rd2);
  });

  it('restarts from storage with its term, vote and log', () => {
    const c = elected();
    c.propose(1, 'a');
    const before = c.member(2).status();
    c.member(2).restart();
    const after = c.member(2).status();
    assert.equal(after.term, before.term);
    assert.equal(after.vote, before.vote);
    assert.equal(after.lastIndex, before.lastIndex);
    assert.equal(after.role, Role.Follower);
    c.run(2);
    assert.deepEqual(c.member(2).state, ['a']);
  });

  it('steps no local-only or term-less message from the network', () => {
    const c = elected();
    const beat: Message = {
      type: MessageType.App,
      to: 2,
      from: 3,
      term: 0,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      commitOnly: false,
    };
    c.node(2).step(beat);
    c.node(2).step({ ...beat, type: MessageType.Hup });
    c.flushReadies();
    assert.equal(c.queue.length, 0);
    assert.equal(c.member(2).status().role, Role.Follower);
  });
});
