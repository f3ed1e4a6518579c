/**
 * The PROXY protocol parser (src/server/proxy/), byte by byte: every valid form of
 * doc/proxy-protocol.txt decides exactly at its last byte, every shorter prefix asks for more, a
 * split anywhere gives the same result, and each kind of bad header is refused at the first byte
 * that makes it bad, with its reason.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseProxyHeader,
  PROXY_V1_MAX_BYTES,
  PROXY_V2_MAX_BYTES,
  ProxyHeaderParser,
  startsWithProxySignature,
  type ParseStep,
  type ProxyHeader,
} from '../../src/server/proxy/header.js';
import { v2Header } from '../support/proxy-headers.js';

const SSH = Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n');

/** Feeds one byte at a time; returns how many bytes were fed when the parser decided, and its answer. */
function decide(bytes: Uint8Array, parser = new ProxyHeaderParser()): { at: number; step: ParseStep } {
  for (let i = 0; i < bytes.length; i++) {
    const step = parser.feed(bytes.subarray(i, i + 1));
    if (step.kind !== 'more') return { at: i + 1, step };
  }
  return { at: -1, step: { kind: 'more' } };
}

/** Asserts the full contract for a valid header: decided at its last byte, prefixes ask for more, splits agree. */
function assertValid(header: Buffer, expected: Omit<ProxyHeader, 'length'>): void {
  const input = Buffer.concat([header, SSH]);
  const once = parseProxyHeader(input);
  assert.equal(once.kind, 'done', `${JSON.stringify(once)} for ${header.toString('hex')}`);
  assert.deepEqual(once.header, { ...expected, length: header.length });
  assert.deepEqual(Buffer.from(once.rest), SSH, 'the bytes after the header come back');
  const { at, step } = decide(input);
  assert.equal(at, header.length, 'decided at the last header byte, not later');
  assert.ok(step.kind === 'done');
  assert.deepEqual(step.header, once.header);
  assert.equal(step.rest.length, 0, 'fed byte by byte, nothing follows the last header byte in its chunk');
  for (let k = 0; k < header.length; k++) assert.deepEqual(parseProxyHeader(header.subarray(0, k)), { kind: 'more' }, `prefix of ${k} bytes`);
  for (let k = 0; k <= input.length; k++) {
    const p = new ProxyHeaderParser();
    const a = p.feed(input.subarray(0, k));
    const b = p.feed(input.subarray(k));
    const rest = Buffer.concat([a.kind === 'done' ? a.rest : Buffer.alloc(0), b.kind === 'done' ? b.rest : Buffer.alloc(0)]);
    assert.equal(b.kind, 'done', `split at ${k}`);
    assert.deepEqual(b.header, once.header, `split at ${k}`);
    assert.deepEqual(rest, SSH, `split at ${k}: the rest is exactly what followed`);
  }
}

/** Asserts that `bytes` is refused with `reason`, decided when byte number `at` (1-based) arrives. */
function assertRefused(bytes: Uint8Array, reason: string, at?: number): void {
  const once = parseProxyHeader(bytes);
  assert.deepEqual(once, { kind: 'error', reason }, Buffer.from(bytes).toString('latin1'));
  const byByte = decide(bytes);
  assert.deepEqual(byByte.step, once, 'same verdict byte by byte');
  if (at !== undefined) assert.equal(byByte.at, at, `decided at byte ${at}`);
}

const tcp4 = (s: string, d: string, sp: number, dp: number, version: 1 | 2 = 1) =>
  ({ version, command: 'PROXY', family: 'TCP4', source: { address: s, port: sp }, destination: { address: d, port: dp } }) as const;
const tcp6 = (s: string, d: string, sp: number, dp: number, version: 1 | 2 = 1) =>
  ({ version, command: 'PROXY', family: 'TCP6', source: { address: s, port: sp }, destination: { address: d, port: dp } }) as const;
const unspec = (version: 1 | 2, command: 'LOCAL' | 'PROXY') => ({ version, command, family: 'UNSPEC', source: null, destination: null }) as const;
const F6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
const line = (text: string) => Buffer.from(text, 'latin1');

describe('PROXY v1: the valid forms of §2.1', () => {
  it("the spec's example line", () => assertValid(line('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'), tcp4('192.168.0.1', '192.168.0.11', 56324, 443)));
  it('the longest TCP4 line (56 bytes)', () => {
    const h = line('PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n');
    assert.equal(h.length, 56);
    assertValid(h, tcp4('255.255.255.255', '255.255.255.255', 65535, 65535));
  });
  it('the longest TCP6 line (104 bytes)', () => {
    const h = line(`PROXY TCP6 ${F6} ${F6} 65535 65535\r\n`);
    assert.equal(h.length, 104);
    assertValid(h, tcp6(F6, F6, 65535, 65535));
  });
  it('UNKNOWN, short form (15 bytes)', () => assertValid(line('PROXY UNKNOWN\r\n'), unspec(1, 'PROXY')));
  it('UNKNOWN with the worst-case 107-byte line: the rest of the line is ignored', () => {
    const h = line(`PROXY UNKNOWN ${F6} ${F6} 65535 65535\r\n`);
    assert.equal(h.length, PROXY_V1_MAX_BYTES);
    assertValid(h, unspec(1, 'PROXY'));
  });
  it('TCP6 with the ::ffff:a.b.c.d form HAProxy writes for IPv4 clients, and compressed, upper-case forms', () => {
    assertValid(line('PROXY TCP6 ::ffff:203.0.113.7 ::ffff:127.0.0.1 40000 2222\r\n'), tcp6('::ffff:203.0.113.7', '::ffff:127.0.0.1', 40000, 2222));
    assertValid(line('PROXY TCP6 2001:DB8:0:0:0:0:0:7 ::1 1 2\r\n'), tcp6('2001:db8::7', '::1', 1, 2));
  });
  it('ports 0 and addresses 0.0.0.0', () => assertValid(line('PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n'), tcp4('0.0.0.0', '0.0.0.0', 0, 0)));
});

describe('PROXY v1: refusals', () => {
  it('anything that does not start with "PROXY " (SSH, HTTP, TLS, lower case) fails at its first wrong byte', () => {
    assertRefused(SSH, 'not-proxy', 1);
    assertRefused(line('GET / HTTP/1.1\r\n'), 'not-proxy', 1);
    assertRefused(Buffer.from([0x16, 0x03, 0x01, 0x02]), 'not-proxy', 1);
    assertRefused(line('proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n'), 'not-proxy', 1);
    assertRefused(line('PROXY\r\n'), 'not-proxy', 6);
    assertRefused(line('PROXYTCP4 '), 'not-proxy', 6);
  });
  it('unknown protocols', () => {
    assertRefused(line('PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n'), 'bad-protocol', 10);
    assertRefused(line('PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n'), 'bad-protocol', 8);
    assertRefused(line('PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n'), 'bad-protocol', 7);
    assertRefused(line('PROXY UNKNOWNX\r\n'), 'bad-protocol', 14);
    assertRefused(line('PROXY UNKNOWN-\r\n'), 'bad-protocol', 14);
    assertRefused(line('PROXY  TCP4 1.2.3.4 1.2.3.4 1 2\r\n'), 'bad-protocol', 7);
  });
  it('spacing: one space exactly between fields, none at the end', () => {
    assertRefused(line('PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n'), 'bad-line', 12);
    assertRefused(line('PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n'), 'bad-line', 20);
    assertRefused(line('PROXY TCP4 1.2.3.4 1.2.3.4 1  2\r\n'), 'bad-line', 30);
    assertRefused(line('PROXY TCP4 1.2.3.4 1.2.3.4 1 2 \r\n'), 'bad-line', 31);
    assertRefused(line('PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n'), 'bad-line', 29);
    assertRefused(line('PROXY TCP4\r\n'), 'bad-line', 11);
    assertRefused(line('PROXY TCP4\t1.2.3.4 1.2.3.4 1 2\r\n'), 'bad-line', 11);
  });
  it('line ends: CRLF only, no lone CR or LF, no missing CRLF', () => {
    assertRefused(line('PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n'), 'bad-line', 31);
    assertRefused(line('PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX'), 'bad-line', 32);
    assertRefused(line('PROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\r\n'), 'bad-line', 32);
    assertRefused(line('PROXY UNKNOWN\n'), 'bad-protocol', 14);
    assertRefused(line('PROXY UNKNOWN abc\ndef\r\n'), 'bad-line', 18);
    assertRefused(line('PROXY UNKNOWN\rX'), 'bad-line', 15);
    assertRefused(Buffer.concat([line('PROXY TCP4 1.2.3.4 1.2.3.4 1 2'), SSH]), 'bad-port', 31);
  });
  it('addresses must be of the announced family and strictly written', () => {
    assertRefused(line('PROXY TCP4 ::1 1.2.3.4 1 2\r\n'), 'bad-address', 12);
    assertRefused(line('PROXY TCP6 1.2.3.4 ::1 1 2\r\n'), 'bad-address', 19);
    assertRefused(line('PROXY TCP4 01.2.3.4 1.2.3.4 1 2\r\n'), 'bad-address', 20);
    assertRefused(line('PROXY TCP4 256.2.3.4 1.2.3.4 1 2\r\n'), 'bad-address', 21);
    assertRefused(line('PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n'), 'bad-address', 17);
    assertRefused(line('PROXY TCP4 1.2.3.4.5 1.2.3.4 1 2\r\n'), 'bad-address', 21);
    assertRefused(line('PROXY TCP4 1.2.3.4444444444444 1.2.3.4 1 2\r\n'), 'bad-address', 27);
    assertRefused(line('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'), 'bad-address', 19);
    assertRefused(line('PROXY TCP6 1::2::3 ::1 1 2\r\n'), 'bad-address', 19);
    assertRefused(line('PROXY TCP6 ::1 g::1 1 2\r\n'), 'bad-address', 16);
  });
  it('ports: 0..65535, no leading zeros, digits only', () => {
    assertRefused(line('PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n'), 'bad-port', 33);
    assertRefused(line('PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n'), 'bad-port', 30);
    assertRefused(line('PROXY TCP4 1.2.3.4 1.2.3.4 00 2\r\n'), 'bad-port', 30);
    assertRefused(line('PROXY TCP4 1.2.3.4 1.2.3.4 1 02\r\n'), 'bad-port', 32);
    assertRefused(line('PROXY TCP4 1.2.3.4 1.2.3.4 123456 2\r\n'), 'bad-port', 33);
    assertRefused(line('PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n'), 'bad-port', 28);
    assertRefused(line('PROXY TCP4 1.2.3.4 1.2.3.4 1 0x10\r\n'), 'bad-port', 31);
  });
  it('no CRLF within 107 bytes: refused when the 107th byte arrives', () => {
    const long = line(`PROXY UNKNOWN ${'a'.repeat(200)}\r\n`);
    assertRefused(long, 'too-long', PROXY_V1_MAX_BYTES);
    assert.deepEqual(parseProxyHeader(long.subarray(0, PROXY_V1_MAX_BYTES - 1)), { kind: 'more' });
    // A 108-byte line, CRLF included, is one byte too many.
    assertRefused(line(`PROXY UNKNOWN ${'a'.repeat(92)}\r\n`), 'too-long', PROXY_V1_MAX_BYTES);
    const p = new ProxyHeaderParser();
    p.feed(long);
    assert.equal(p.consumed, PROXY_V1_MAX_BYTES, 'never holds more than the v1 cap');
  });
});

describe('PROXY v2: the valid forms of §2.2', () => {
  it('TCP over IPv4 (what send-proxy-v2 sends)', () => assertValid(v2Header(), tcp4('203.0.113.7', '192.0.2.1', 54321, 2222, 2)));
  it('TCP over IPv6', () => assertValid(v2Header({ fam: 0x21 }), tcp6('2001:db8::7', '2001:db8::1', 54321, 2222, 2)));
  it('TCP over IPv6 carrying an IPv4-mapped client', () =>
    assertValid(v2Header({ fam: 0x21, source: '::ffff:198.51.100.9', destination: '::ffff:10.0.0.1' }), tcp6('::ffff:198.51.100.9', '::ffff:10.0.0.1', 54321, 2222, 2)));
  it('LOCAL (a health check), as HAProxy sends it: UNSPEC, length 0', () => assertValid(v2Header({ verCmd: 0x20, fam: 0x00 }), unspec(2, 'LOCAL')));
  it('LOCAL with a family and addresses: the block is skipped whatever it holds', () => {
    assertValid(v2Header({ verCmd: 0x20, fam: 0x11 }), unspec(2, 'LOCAL'));
    assertValid(v2Header({ verCmd: 0x20, fam: 0x00, block: Buffer.from([1, 2, 3, 4, 5]) }), unspec(2, 'LOCAL'));
    assertValid(v2Header({ verCmd: 0x20, fam: 0x11, block: Buffer.alloc(3) }), unspec(2, 'LOCAL'));
  });
  it('PROXY with UNSPEC, UDP or UNIX families: served with the connection\'s own address', () => {
    assertValid(v2Header({ fam: 0x00 }), unspec(2, 'PROXY'));
    assertValid(v2Header({ fam: 0x00, block: Buffer.from('whatever') }), unspec(2, 'PROXY'));
    for (const fam of [0x12, 0x22, 0x31, 0x32]) assertValid(v2Header({ fam }), unspec(2, 'PROXY'));
  });
  it('TLVs after the addresses are skipped', () => {
    const tlvs = [
      { type: 0x04, value: new Uint8Array(0) }, // NOOP
      { type: 0x05, value: new Uint8Array(128).fill(7) }, // UNIQUE_ID
      { type: 0x02, value: Buffer.from('sftp.example.com') }, // AUTHORITY
      { type: 0xea, value: Buffer.from('\x01vpce-0123456789abcdef', 'latin1') }, // AWS VPC endpoint id
      { type: 0x03, value: Buffer.from([0, 0, 0, 0]) }, // CRC32C: not checked
    ];
    assertValid(v2Header({ tlvs }), tcp4('203.0.113.7', '192.0.2.1', 54321, 2222, 2));
    assertValid(v2Header({ fam: 0x21, tlvs }), tcp6('2001:db8::7', '2001:db8::1', 54321, 2222, 2));
  });
  it('the largest header accepted is PROXY_V2_MAX_BYTES (4 KiB)', () => {
    const filler = { type: 0x04, value: new Uint8Array(PROXY_V2_MAX_BYTES - 16 - 12 - 3) };
    const h = v2Header({ tlvs: [filler] });
    assert.equal(h.length, PROXY_V2_MAX_BYTES);
    assertValid(h, tcp4('203.0.113.7', '192.0.2.1', 54321, 2222, 2));
  });
});

describe('PROXY v2: refusals', () => {
  it('a wrong signature byte is refused when it arrives, at each of the 12 positions', () => {
    for (let i = 1; i < 12; i++) {
      const h = v2Header();
      h[i] ^= 0x40;
      assertRefused(h, 'not-proxy', i + 1);
    }
  });
  it('versions other than 2', () => {
    for (const verCmd of [0x01, 0x11, 0x31, 0xf1]) assertRefused(v2Header({ verCmd }), 'bad-version', 13);
  });
  it('commands other than LOCAL and PROXY', () => {
    for (const verCmd of [0x22, 0x23, 0x2f]) assertRefused(v2Header({ verCmd }), 'bad-command', 13);
  });
  it('family/transport bytes the spec does not define', () => {
    for (const fam of [0x01, 0x02, 0x10, 0x13, 0x20, 0x23, 0x30, 0x33, 0x41, 0xff]) assertRefused(v2Header({ fam, block: Buffer.alloc(216) }), 'bad-family', 14);
  });
  it('a length over the cap is refused at the 16th byte, before any of it is read', () => {
    const huge = Buffer.concat([v2Header({ length: 65535, block: Buffer.alloc(0) }), Buffer.alloc(100)]);
    assertRefused(huge, 'too-long', 16);
    assertRefused(v2Header({ length: PROXY_V2_MAX_BYTES - 15, block: Buffer.alloc(0) }), 'too-long', 16);
    const p = new ProxyHeaderParser();
    p.feed(huge);
    assert.equal(p.consumed, 16);
  });
  it('a smaller cap given to the parser is honoured', () => {
    const h = v2Header({ tlvs: [{ type: 4, value: new Uint8Array(64 - 31) }] });
    assert.equal(h.length, 64);
    assert.equal(new ProxyHeaderParser(64).feed(h).kind, 'done');
    assert.deepEqual(new ProxyHeaderParser(63).feed(h), { kind: 'error', reason: 'too-long' });
  });
  it('PROXY with a block too short for its family', () => {
    assertRefused(v2Header({ block: Buffer.alloc(11) }), 'bad-length', 16);
    assertRefused(v2Header({ fam: 0x21, block: Buffer.alloc(35) }), 'bad-length', 16);
    assertRefused(v2Header({ fam: 0x31, block: Buffer.alloc(215) }), 'bad-length', 16);
  });
  it('TLVs that do not exactly fill the header', () => {
    const tcp = v2Header().subarray(16);
    assertRefused(v2Header({ block: Buffer.concat([tcp, Buffer.from([4, 0])]) }), 'bad-tlv'); // a TLV head cut short
    assertRefused(v2Header({ block: Buffer.concat([tcp, Buffer.from([4, 0, 5, 1, 2])]) }), 'bad-tlv'); // value overruns
    assertRefused(v2Header({ block: Buffer.concat([tcp, Buffer.from([4, 0, 0, 9])]) }), 'bad-tlv'); // one stray byte
  });
});

describe('the parser as a state machine', () => {
  it('an empty chunk asks for more', () => {
    assert.deepEqual(new ProxyHeaderParser().feed(new Uint8Array(0)), { kind: 'more' });
  });
  it('answers the same decision after it decided; the rest is then the whole chunk', () => {
    const p = new ProxyHeaderParser();
    const first = p.feed(v2Header());
    assert.equal(first.kind, 'done');
    const again = p.feed(SSH);
    assert.ok(again.kind === 'done');
    assert.deepEqual(again.header, first.kind === 'done' ? first.header : null);
    assert.deepEqual(Buffer.from(again.rest), SSH);
    const bad = new ProxyHeaderParser();
    bad.feed(SSH);
    assert.deepEqual(bad.feed(v2Header()), { kind: 'error', reason: 'not-proxy' });
  });
  it('does not copy past the header: consumed stops at the v1 cap or the v2 length', () => {
    const p = new ProxyHeaderParser();
    p.feed(Buffer.concat([v2Header(), Buffer.alloc(10_000)]));
    assert.equal(p.consumed, 28);
    const q = new ProxyHeaderParser();
    q.feed(Buffer.concat([line('PROXY UNKNOWN\r\n'), Buffer.alloc(10_000)]));
    assert.ok(q.consumed <= PROXY_V1_MAX_BYTES);
  });
});

describe('startsWithProxySignature (connections from unlisted addresses)', () => {
  it('is decided by the first bytes', () => {
    const sig = (t: string | Buffer) => startsWithProxySignature(typeof t === 'string' ? line(t) : t);
    assert.equal(sig(''), undefined);
    assert.equal(sig('S'), false);
    assert.equal(sig('SSH-2.0-x\r\n'), false);
    assert.equal(sig('P'), undefined);
    assert.equal(sig('PROXY'), undefined);
    assert.equal(sig('PROXY '), true);
    assert.equal(sig('PROXZ'), false);
    assert.equal(sig('PROXY TCP4 1.2.3.4'), true);
    const v2 = v2Header();
    assert.equal(sig(v2.subarray(0, 11)), undefined);
    assert.equal(sig(v2.subarray(0, 12)), true);
    assert.equal(sig(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01])), false);
    assert.equal(sig('\r\n'), undefined);
  });
});
