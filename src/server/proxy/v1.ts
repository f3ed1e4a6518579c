/**
 * PROXY protocol version 1 (doc/proxy-protocol.txt §2.1): one US-ASCII line,
 * `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` or `PROXY UNKNOWN[ anything]\r\n`, at most 107 bytes.
 * "Any sequence which does not exactly match the protocol must be discarded": exactly one space
 * between fields, addresses of the announced family, numbers without leading zeros, CRLF and
 * nothing else to end the line. (HAProxy's own receiver is more lenient about numbers; its sender
 * never writes what this refuses.) Judged on the bytes so far, so a wrong byte fails at once.
 */
import { formatIp, parseIp } from '../../util/ip-address.js';
import type { HeaderCheck, ProxyEndpoint, ProxyHeaderError } from './header.js';

/** The longest line the spec allows, CRLF included ("PROXY UNKNOWN" with two full IPv6 addresses). */
export const PROXY_V1_MAX_BYTES = 107;

const PREFIX = 'PROXY ';
const PROTOCOLS = ['TCP4', 'TCP6', 'UNKNOWN'] as const;
const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;

type Field = { allowed: (c: number) => boolean; max: number; reason: ProxyHeaderError };
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const IPV4: Field = { allowed: (c) => isDigit(c) || c === 0x2e, max: 15, reason: 'bad-address' };
// Hex groups, colons, and dots for the ::ffff:a.b.c.d form HAProxy writes for IPv4 clients on TCP6.
const IPV6: Field = { allowed: (c) => isHex(c) || c === 0x3a || c === 0x2e, max: 45, reason: 'bad-address' };
const PORT: Field = { allowed: isDigit, max: 5, reason: 'bad-port' };

/** Judges `b` (the bytes so far, starting with 'P') as the start of a v1 line. */
export function checkV1(b: Uint8Array): HeaderCheck {
  const check = scan(b);
  // "If the CRLF sequence is not found in the first 107 characters, the receiver should declare the line invalid."
  if (check.kind === 'more' && b.length >= PROXY_V1_MAX_BYTES) return error('too-long');
  return check;
}

function scan(b: Uint8Array): HeaderCheck {
  for (let i = 0; i < PREFIX.length; i++) {
    if (i >= b.length) return more();
    if (b[i] !== PREFIX.charCodeAt(i)) return error('not-proxy');
  }
  let at = PREFIX.length;
  while (at < b.length && (isDigit(b[at]!) || (b[at]! >= 0x41 && b[at]! <= 0x5a))) at++;
  const token = latin1(b, PREFIX.length, at);
  if (at === b.length) return PROTOCOLS.some((p) => p.startsWith(token)) ? more() : error('bad-protocol');
  if (token === 'UNKNOWN') return unknownRest(b, at);
  if (token !== 'TCP4' && token !== 'TCP6') return error('bad-protocol');
  if (b[at] !== SP) return error('bad-line');
  const addr = token === 'TCP4' ? IPV4 : IPV6;
  const texts: string[] = [];
  const fields = [addr, addr, PORT, PORT];
  at += 1;
  for (let k = 0; k < fields.length; k++) {
    const f = fields[k]!;
    const start = at;
    while (at < b.length && f.allowed(b[at]!)) at++;
    if (at - start > f.max) return error(f.reason);
    if (at === b.length) return more();
    const text = latin1(b, start, at);
    const stop = b[at]!;
    if (stop !== SP && stop !== CR && stop !== LF) return error(f.reason); // a character the field cannot hold
    if (text === '' || stop !== (k < 3 ? SP : CR)) return error('bad-line'); // a missing field or a wrong separator
    if (!fieldValid(text, f, token)) return error(f.reason);
    texts.push(text);
    at += 1;
  }
  if (at === b.length) return more();
  if (b[at] !== LF) return error('bad-line'); // "must not tolerate a single CR or LF character to end the line"
  const end = (address: string, port: string): ProxyEndpoint => ({ address: formatIp(parseIp(address)!), port: Number(port) });
  return {
    kind: 'done',
    header: {
      version: 1,
      command: 'PROXY',
      family: token,
      source: end(texts[0]!, texts[2]!),
      destination: end(texts[1]!, texts[3]!),
      length: at + 1,
    },
  };
}

/** After `UNKNOWN`: CRLF, or a space and anything up to CRLF ("the receiver must ignore anything presented before the CRLF"). */
function unknownRest(b: Uint8Array, at: number): HeaderCheck {
  if (b[at] !== SP && b[at] !== CR) return error('bad-protocol');
  let i = at;
  while (i < b.length && b[i] !== CR) {
    if (b[i] === LF) return error('bad-line');
    i++;
  }
  if (i + 1 >= b.length) return more();
  if (b[i + 1] !== LF) return error('bad-line');
  return { kind: 'done', header: { version: 1, command: 'PROXY', family: 'UNSPEC', source: null, destination: null, length: i + 2 } };
}

function fieldValid(text: string, f: Field, token: string): boolean {
  if (f === PORT) return /^(0|[1-9]\d{0,4})$/.test(text) && Number(text) <= 65_535;
  // node:net's isIP (behind parseIp) refuses IPv4 numbers with leading zeros, as the spec does.
  const bytes = parseIp(text);
  return bytes !== null && bytes.length === (token === 'TCP4' ? 4 : 16);
}

function latin1(b: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...b.subarray(from, to));
}

function more(): HeaderCheck {
  return { kind: 'more' };
}

function error(reason: ProxyHeaderError): HeaderCheck {
  return { kind: 'error', reason };
}
