import assert from 'node:assert/strict';
import type { Http2Server, Http2Session } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { CLIENT_FLOW_CONTROL, FLOW_CONTROL_WINDOW_BYTES, loadPublicApi, widenServerWindows } from '../src/index.js';

describe('HTTP/2 flow-control windows', () => {
  it('a server widened before and after binding advertises the window and opens each connection to it', async () => {
    const server = new grpc.Server();
    server.addService(loadPublicApi().conclave.v1.Conclave.service, {
      GetData: (_call: unknown, callback: grpc.sendUnaryData<object>) => callback(null, { data: Buffer.alloc(300 * 1024) }),
    });
    assert.equal(widenServerWindows(server), true, 'grpc-js still has the fields widenServerWindows uses');
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    assert.equal(widenServerWindows(server), true);
    const sessions: Http2Session[] = [];
    for (const listener of (server as unknown as { http2Servers: Map<Http2Server, unknown> }).http2Servers.keys()) listener.on('session', (s) => sessions.push(s));
    const client = new (loadPublicApi().conclave.v1.Conclave)(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CLIENT_FLOW_CONTROL);
    try {
      const reply = await new Promise<{ data: Buffer }>((resolve, reject) => client.GetData({ path: '/' }, (e, r) => (e ? reject(e) : resolve(r as { data: Buffer }))));
      assert.equal(reply.data.length, 300 * 1024);
      assert.equal(sessions.length, 1);
      assert.equal(sessions[0]!.localSettings.initialWindowSize, FLOW_CONTROL_WINDOW_BYTES, 'stream window in SETTINGS');
      assert.ok(sessions[0]!.state.localWindowSize! > 1024 * 1024, `connection window ${sessions[0]!.state.localWindowSize}`);
      assert.equal(sessions[0]!.remoteSettings.initialWindowSize, FLOW_CONTROL_WINDOW_BYTES, "the client's stream window");
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
