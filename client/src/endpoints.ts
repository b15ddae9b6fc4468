/** Connect strings: "host:port,host:port,..." (the CONCLAVE_ENDPOINTS format). */
export const DEFAULT_ENDPOINTS = '127.0.0.1:2281';

export function parseEndpoints(spec: string | readonly string[] | undefined): string[] {
  const parts = (Array.isArray(spec) ? spec : String(spec ?? DEFAULT_ENDPOINTS).split(','))
    .map((s) => s.trim().replace(/^conclave:\/\//, ''))
    .filter(Boolean);
  if (parts.length === 0) throw new TypeError('no endpoints given');
  for (const p of parts) {
    if (!/^(\[[0-9a-fA-F:]+\]|[^\s:/]+):\d{1,5}$/.test(p)) throw new TypeError(`bad endpoint ${JSON.stringify(p)}: expected host:port`);
  }
  return parts;
}
