/**
 * A probe on a client's session stream, for the zxid checks: every response carries the zxid of the
 * state the member answered from, and a client must never see it go backwards, neither on one
 * member nor when it moves to another (the member it resumes on waits until it has applied the
 * client's last seen zxid). The public client API keeps only the maximum, so the probe wraps the
 * session's receive path (a test-only hook on private methods; nothing in the client changes).
 */
import type { Conclave } from '@conclave/client';

export interface ZxidRegression {
  label: string;
  /** the zxid seen before and the lower one seen after */
  previous: number;
  zxid: number;
  /** members answering the two */
  previousMember: number;
  member: number;
  /** 'connect' or 'response' */
  at: string;
}

export interface ZxidProbe {
  label: string;
  responses: number;
  /** streams opened after the first (the session moved or resumed) */
  reconnects: number;
  regressions: ZxidRegression[];
  /** the last zxid of a response */
  last: number;
}

interface SessionInternals {
  memberId: number;
  receive(down: { responses: { id: number; zxid: number }[] }): void;
  opened(stream: unknown, connect: { memberId: number }, zxid: number): void;
}

export function probeZxids(client: Conclave, label: string): ZxidProbe {
  const session = (client as unknown as { session: SessionInternals }).session;
  const probe: ZxidProbe = { label, responses: 0, reconnects: 0, regressions: [], last: 0 };
  let lastMember = session.memberId;
  let opened = 0;
  const see = (zxid: number, member: number, at: string) => {
    if (zxid < probe.last) probe.regressions.push({ label, previous: probe.last, zxid, previousMember: lastMember, member, at });
    else probe.last = zxid;
    lastMember = member;
  };
  const receive = session.receive.bind(session);
  session.receive = (down) => {
    for (const r of down.responses) {
      if (r.id === 0) continue; // a watch event: replayed events after a reconnect are older by design
      probe.responses++;
      see(r.zxid, session.memberId, 'response');
    }
    receive(down);
  };
  const open = session.opened.bind(session);
  session.opened = (stream, connect, zxid) => {
    if (opened++ > 0) probe.reconnects++;
    see(zxid, connect.memberId, 'connect');
    open(stream, connect, zxid);
  };
  // The stream that is already open counts as the first.
  if (session.memberId !== 0) opened = 1;
  probe.last = client.lastZxid;
  return probe;
}
