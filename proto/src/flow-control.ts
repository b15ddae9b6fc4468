/**
 * HTTP/2 flow-control windows for Conclave's gRPC traffic. Node's default window is 64 KiB per
 * stream and per connection: a sender stops after 64 KiB until the receiver's WINDOW_UPDATE comes
 * back, so a 100 KB value takes two round trips, and all the sessions multiplexed on one connection
 * share those 64 KiB. Conclave's values go up to 1 MiB and a session stream carries batches of
 * them, so both ends advertise FLOW_CONTROL_WINDOW_BYTES instead.
 *
 * Clients: grpc-js's channel option `grpc-node.flow_control_window` (stream and connection windows).
 * Servers: grpc-js (1.14) has no option for it yet (grpc/grpc-node#3058), so widenServerWindows()
 * sets the SETTINGS the server's http2 listeners advertise, and each new session's connection
 * window, through the grpc.Server's own fields; it reports whether it could, and a test checks it
 * still can with the grpc-js version in the lockfile.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Http2Server, Http2Session, Settings } from 'node:http2';

export const FLOW_CONTROL_WINDOW_BYTES = 8 * 1024 * 1024;

/** For a grpc-js client channel. */
export const CLIENT_FLOW_CONTROL: grpc.ChannelOptions = { 'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES };

interface ServerFields {
  commonServerOptions?: { settings?: Settings };
  http2Servers?: Map<Http2Server, unknown>;
}

/**
 * Call once before bindAsync (for the stream window in SETTINGS) and again once bound (for the
 * connection window of each session). Returns false when grpc-js no longer has the fields it uses.
 */
export function widenServerWindows(server: grpc.Server, bytes = FLOW_CONTROL_WINDOW_BYTES): boolean {
  const fields = server as unknown as ServerFields;
  if (fields.commonServerOptions === undefined || !(fields.http2Servers instanceof Map)) return false;
  fields.commonServerOptions.settings = { ...fields.commonServerOptions.settings, initialWindowSize: bytes };
  for (const listener of fields.http2Servers.keys()) {
    if ((listener as { conclaveWindow?: boolean }).conclaveWindow) continue;
    (listener as { conclaveWindow?: boolean }).conclaveWindow = true;
    listener.on('session', (session: Http2Session) => {
      try {
        session.setLocalWindowSize(bytes);
      } catch {
        // the session is already closing
      }
    });
  }
  return true;
}
