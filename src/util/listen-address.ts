/**
 * `host:port` listen addresses (the metricsListen setting): `127.0.0.1:9222`, `localhost:9222`,
 * `[::1]:9222` (IPv6 in brackets, as in URLs). Port 0 picks a free port.
 */
import { isIP } from 'node:net';

/** A parsed listen address. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses `text`, or returns a problem saying what is wrong. */
export function parseListenAddress(text: string): ListenAddress | { problem: string } {
  const bad = { problem: "must be HOST:PORT, such as 127.0.0.1:9222 or [::1]:9222" };
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]{1,253})):(\d{1,5})$/.exec(text.trim());
  if (!m) return bad;
  const host = m[1] ?? m[2]!;
  if (m[1] !== undefined && isIP(host) !== 6) return { problem: `'[${host}]' is not an IPv6 address` };
  if (m[2] !== undefined && host.includes(':')) return bad;
  const port = Number(m[3]);
  if (port > 65_535) return { problem: 'port must be between 0 and 65535' };
  return { host, port };
}
