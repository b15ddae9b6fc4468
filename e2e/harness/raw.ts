/** Raw gRPC access for protocol-level tests: a bare session stream and promisified unary stubs. */
import * as grpc from '@grpc/grpc-js';
import { loadPublicApi } from '@conclave/proto';
import type { SessionResponse__Output as SessionResponse } from '@conclave/proto/gen/conclave/v1/SessionResponse.js';
import type { SessionDown__Output as SessionDown } from '@conclave/proto/gen/conclave/v1/SessionDown.js';

const first = (endpoints: string) => endpoints.split(',')[0]!;

export interface RawSession {
  connect: SessionResponse;
  send(requests: object[]): void;
  /** resolves with the response to request `id` */
  response(id: number): Promise<SessionResponse>;
  /** resolves with the code of the next stream-level error (a response with id 0 and an error) */
  nextError(): Promise<string>;
  responses: SessionResponse[];
  /** stops reading the stream (the server's writes back up), and starts again */
  pause(): void;
  resume(): void;
  close(): void;
}

export function rawSession(
  endpoints: string,
  connect: { sessionId?: number; secret?: Uint8Array; timeoutMs?: number; lastZxid?: number; watches?: object },
): Promise<RawSession> {
  const stub = new (loadPublicApi().conclave.v1.Conclave)(first(endpoints), grpc.credentials.createInsecure());
  const stream = stub.Session();
  const responses: SessionResponse[] = [];
  const waiters: (() => void)[] = [];
  stream.on('data', (down: SessionDown) => {
    responses.push(...down.responses);
    for (const w of waiters.splice(0)) w();
  });
  let ended = false;
  const end = () => {
    ended = true;
    for (const w of waiters.splice(0)) w();
  };
  stream.on('error', end);
  stream.on('end', end);
  const waitFor = async <T>(find: () => T | undefined): Promise<T> => {
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (ended) throw new Error('the session stream ended');
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  stream.write({ requests: [{ id: 1, connect: { timeoutMs: 2_000, ...connect } }] });
  let errorsSeen = 0;
  const session: Omit<RawSession, 'connect'> = {
    responses,
    send: (requests) => stream.write({ requests }),
    response: (id) => waitFor(() => responses.find((r) => r.id === id)),
    nextError: async () => {
      const errors = () => responses.filter((r) => r.id === 0 && r.error);
      const error = await waitFor(() => errors()[errorsSeen]);
      errorsSeen++;
      return error.error!.code as string;
    },
    pause: () => stream.pause(),
    resume: () => stream.resume(),
    close: () => {
      stream.cancel();
      stub.close();
    },
  };
  return session.response(1).then((connectResponse) => ({ ...session, connect: connectResponse }));
}

type Unary<Req, Res> = (request: Req) => Promise<Res>;

function promisify<Req, Res>(stub: grpc.Client, method: string): Unary<Req, Res> {
  return (request: Req) =>
    new Promise<Res>((resolve, reject) => {
      (stub as unknown as Record<string, (r: Req, cb: (e: grpc.ServiceError | null, v: Res) => void) => void>)[method]!.call(stub, request, (error, value) => {
        if (error) reject(Object.assign(error, { code: error.metadata.get('conclave-error')[0] ?? error.code, grpcCode: error.code }));
        else resolve(value);
      });
    });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

export function unaryStubs(endpoints: string) {
  const api = loadPublicApi().conclave.v1;
  const credentials = grpc.credentials.createInsecure();
  const conclave = new api.Conclave(first(endpoints), credentials);
  const leases = new api.Leases(first(endpoints), credentials);
  const cluster = new api.Cluster(first(endpoints), credentials);
  const u = <S extends grpc.Client>(stub: S, method: string) => promisify<Any, Any>(stub, method);
  return {
    conclave: {
      create: u(conclave, 'Create'),
      delete: u(conclave, 'Delete'),
      exists: u(conclave, 'Exists'),
      getData: u(conclave, 'GetData'),
      setData: u(conclave, 'SetData'),
      getChildren: u(conclave, 'GetChildren'),
      multi: u(conclave, 'Multi'),
      sync: u(conclave, 'Sync'),
      watch: (request: Any) => conclave.Watch(request),
    },
    leases: {
      grant: u(leases, 'Grant'),
      revoke: u(leases, 'Revoke'),
      timeToLive: u(leases, 'TimeToLive'),
      list: u(leases, 'List'),
      keepAlive: () => {
        const call = leases.KeepAlive();
        call.on('error', () => undefined);
        call.on('data', () => undefined);
        return call;
      },
    },
    cluster: {
      status: u(cluster, 'Status'),
      members: u(cluster, 'Members'),
      addMember: u(cluster, 'AddMember'),
      promoteMember: u(cluster, 'PromoteMember'),
      removeMember: u(cluster, 'RemoveMember'),
      transferLeadership: u(cluster, 'TransferLeadership'),
      takeSnapshot: u(cluster, 'TakeSnapshot'),
    },
    close: () => [conclave, leases, cluster].forEach((s) => s.close()),
  };
}
