// Cluster DNS for the pods: a tiny authoritative server for cluster.local built from Services and
// EndpointSlices, the records CoreDNS's kubernetes plugin serves:
//   <svc>.<ns>.svc.cluster.local             -> the ClusterIP (served by proxy.ts), or for a
//                                               headless service the ready endpoint IPs
//   <hostname>.<svc>.<ns>.svc.cluster.local  -> that endpoint's IP (headless services: StatefulSet
//                                               pods; not-ready ones only with publishNotReadyAddresses)
// Anything outside cluster.local gets REFUSED at once (there is no upstream: no internet here).
import dgram from 'node:dgram';
import type { KObject } from './kube.js';

export const CLUSTER_DOMAIN = 'cluster.local';

/** name (lower case, no trailing dot) -> IPv4 addresses. */
export type DnsTable = Map<string, string[]>;

export function buildDnsTable(services: KObject[], slices: KObject[]): DnsTable {
  const table: DnsTable = new Map();
  const add = (name: string, ip: string): void => {
    const list = table.get(name) ?? [];
    if (!list.includes(ip)) list.push(ip);
    table.set(name, list);
  };
  const svcByKey = new Map(services.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  const headless = (s: KObject | undefined): boolean => !s?.spec?.clusterIP || s.spec.clusterIP === 'None';
  for (const s of services) {
    if (s.spec?.type === 'ExternalName') continue;
    // A service exists in DNS even with no endpoints (NOERROR, no records).
    const name = `${s.metadata.name}.${s.metadata.namespace}.svc.${CLUSTER_DOMAIN}`.toLowerCase();
    table.set(name, headless(s) ? [] : [s.spec.clusterIP]);
  }
  for (const slice of slices) {
    if (slice.addressType && slice.addressType !== 'IPv4') continue;
    const svcName = slice.metadata.labels?.['kubernetes.io/service-name'];
    const ns = slice.metadata.namespace;
    const svc = svcName ? svcByKey.get(`${ns}/${svcName}`) : undefined;
    if (!svc || !headless(svc)) continue;
    const base = `${svcName}.${ns}.svc.${CLUSTER_DOMAIN}`.toLowerCase();
    for (const ep of (slice.endpoints ?? []) as KObject[]) {
      // The EndpointSlice controller already sets ready=true for not-ready pods of a
      // publishNotReadyAddresses service.
      if (ep.conditions?.ready === false) continue;
      for (const ip of (ep.addresses ?? []) as string[]) {
        add(base, ip);
        if (ep.hostname) add(`${String(ep.hostname).toLowerCase()}.${base}`, ip);
      }
    }
  }
  return table;
}

// ---------------------------------------------------------------------------------------------
// Wire format (RFC 1035), just what a stub resolver sends: one question, answers of type A.
// ---------------------------------------------------------------------------------------------
export interface DnsQuery {
  id: number;
  flags: number;
  name: string;
  qtype: number;
  qclass: number;
  /** Offset just past the question, to copy it into the answer. */
  questionEnd: number;
}

export const QTYPE_A = 1;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

export function parseQuery(msg: Buffer): DnsQuery {
  if (msg.length < 12) throw new Error('short message');
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  const qd = msg.readUInt16BE(4);
  if (qd < 1) throw new Error('no question');
  let off = 12;
  const labels: string[] = [];
  for (;;) {
    const len = msg[off];
    if (len === undefined) throw new Error('truncated name');
    off++;
    if (len === 0) break;
    if (len > 63) throw new Error('compressed or invalid label');
    labels.push(msg.subarray(off, off + len).toString('latin1'));
    off += len;
  }
  if (off + 4 > msg.length) throw new Error('truncated question');
  return { id, flags, name: labels.join('.').toLowerCase(), qtype: msg.readUInt16BE(off), qclass: msg.readUInt16BE(off + 2), questionEnd: off + 4 };
}

export function buildResponse(query: Buffer, q: DnsQuery, rcode: number, ips: string[], ttl = 5): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR=1, opcode copied, AA=1, RD copied, RA=1, rcode.
  const flags = 0x8000 | (q.flags & 0x7800) | 0x0400 | (q.flags & 0x0100) | 0x0080 | (rcode & 0xf);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(ips.length, 6);
  const question = query.subarray(12, q.questionEnd);
  const answers = ips.map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
    rr.writeUInt16BE(QTYPE_A, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((p, i) => rr.writeUInt8(Number(p), 12 + i));
    return rr;
  });
  return Buffer.concat([header, question, ...answers]);
}

/** The answer to one query against the table: rcode and addresses. */
export function answer(table: DnsTable, q: DnsQuery): { rcode: number; ips: string[] } {
  const inZone = q.name === CLUSTER_DOMAIN || q.name.endsWith(`.${CLUSTER_DOMAIN}`);
  if (!inZone) return { rcode: RCODE.REFUSED, ips: [] };
  const ips = table.get(q.name);
  if (ips === undefined) return { rcode: RCODE.NXDOMAIN, ips: [] };
  // Shuffled, like a DNS round robin; only A records (AAAA and the rest: NOERROR, empty).
  return { rcode: RCODE.NOERROR, ips: q.qtype === QTYPE_A ? [...ips].sort(() => Math.random() - 0.5) : [] };
}

export class DnsServer {
  private socket: dgram.Socket | undefined;
  table: DnsTable = new Map();

  async listen(host: string, port = 53): Promise<void> {
    const socket = dgram.createSocket('udp4');
    socket.on('message', (msg, rinfo) => {
      let reply: Buffer;
      try {
        const q = parseQuery(msg);
        const a = answer(this.table, q);
        reply = buildResponse(msg, q, a.rcode, a.ips);
      } catch {
        if (msg.length < 12) return;
        reply = Buffer.from(msg.subarray(0, 12));
        reply.writeUInt16BE(0x8000 | RCODE.FORMERR, 2);
        reply.fill(0, 4, 12);
      }
      socket.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => resolve());
    });
    this.socket = socket;
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}
