/**
 * Fuzz target of the PROXY protocol parser (src/server/proxy/). Valid headers of every kind, random
 * bytes behind the two signatures, and mutations of valid headers, fed whole and in random chunks.
 * Invariants: it never throws; it never takes more than its cap (107 bytes for v1, 4 KiB for v2);
 * it has decided by then; chunking changes nothing (same verdict, same bytes after the header); a
 * header it accepts is accepted again from exactly its own bytes, and none of its prefixes is.
 * A fixed seed keeps `npm test` reproducible; COFFER_FUZZ_RUNS=N runs more.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  parseProxyHeader,
  PROXY_V1_MAX_BYTES,
  PROXY_V2_MAX_BYTES,
  PROXY_V2_SIGNATURE,
  ProxyHeaderParser,
  type ParseStep,
  type ProxyHeader,
} from '../../src/server/proxy/header.js';
import { formatIp } from '../../src/util/ip-address.js';
import { v2Header } from '../support/proxy-headers.js';

const SEED = 0x9e0c0ff;
const RUNS = Number(process.env.COFFER_FUZZ_RUNS ?? 1500);
const options = { seed: SEED, numRuns: RUNS };

/** A header generated with the verdict the parser must reach. */
interface Sample {
  bytes: Uint8Array;
  header: ProxyHeader;
}

const port = fc.integer({ min: 0, max: 65_535 });
const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
/** IPv6 text as senders may write it: canonical, or every group in full (either case). */
const ipv6Text = (b: Uint8Array) =>
  fc.constantFrom(
    formatIp(b),
    Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16).padStart(4, '0')).join(':').toUpperCase(),
  );

const v1Tcp: fc.Arbitrary<Sample> = fc.oneof(
  fc.tuple(ipv4, ipv4, port, port).map(([s, d, sp, dp]) => v1('TCP4', formatIp(s), formatIp(d), sp, dp, formatIp(s), formatIp(d))),
  fc
    .tuple(ipv6, ipv6, port, port)
    .chain(([s, d, sp, dp]) => fc.tuple(ipv6Text(s), ipv6Text(d)).map(([st, dt]) => v1('TCP6', st, dt, sp, dp, formatIp(s), formatIp(d)))),
);

function v1(family: 'TCP4' | 'TCP6', st: string, dt: string, sp: number, dp: number, s: string, d: string): Sample {
  const bytes = Buffer.from(`PROXY ${family} ${st} ${dt} ${sp} ${dp}\r\n`, 'latin1');
  return { bytes, header: { version: 1, command: 'PROXY', family, source: { address: s, port: sp }, destination: { address: d, port: dp }, length: bytes.length } };
}

/** UNKNOWN, short or with anything but CR and LF up to the 107-byte cap. */
const v1Unknown: fc.Arbitrary<Sample> = fc
  .option(fc.uint8Array({ maxLength: PROXY_V1_MAX_BYTES - 16 }).map((b) => b.map((c) => (c === 0x0d || c === 0x0a ? 0x20 : c))), { nil: undefined })
  .map((junk) => {
    const bytes = Buffer.concat([Buffer.from('PROXY UNKNOWN'), junk ? Buffer.concat([Buffer.from(' '), junk]) : Buffer.alloc(0), Buffer.from('\r\n')]);
    return { bytes, header: { version: 1, command: 'PROXY', family: 'UNSPEC', source: null, destination: null, length: bytes.length } };
  });

const tlvs = fc.array(fc.record({ type: fc.integer({ min: 0, max: 255 }), value: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 6 });

const v2Tcp: fc.Arbitrary<Sample> = fc.tuple(fc.boolean(), ipv6, ipv6, port, port, tlvs).map(([six, s, d, sp, dp, t]) => {
  const src = six ? s : s.subarray(0, 4);
  const dst = six ? d : d.subarray(0, 4);
  const bytes = v2Header({ fam: six ? 0x21 : 0x11, source: formatIp(src), destination: formatIp(dst), sourcePort: sp, destinationPort: dp, tlvs: t });
  const family = six ? 'TCP6' : 'TCP4';
  const header: ProxyHeader = { version: 2, command: 'PROXY', family, source: { address: formatIp(src), port: sp }, destination: { address: formatIp(dst), port: dp }, length: bytes.length };
  return { bytes, header };
});

/** Address block size per v2 family byte. */
const BLOCK: Record<number, number> = { 0x00: 0, 0x11: 12, 0x12: 12, 0x21: 36, 0x22: 36, 0x31: 216, 0x32: 216 };

/** LOCAL with any family and any block; PROXY with a family whose addresses are not used (UNSPEC, UDP, UNIX). */
const v2Unspec: fc.Arbitrary<Sample> = fc
  .tuple(fc.boolean(), fc.constantFrom(0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32), fc.uint8Array({ maxLength: 400 }))
  .map(([local, anyFam, extra]) => {
    const fam = local ? anyFam : anyFam === 0x11 ? 0x12 : anyFam === 0x21 ? 0x22 : anyFam;
    const block = Buffer.concat([Buffer.alloc(local ? 0 : BLOCK[fam]!), extra]);
    const bytes = v2Header({ verCmd: local ? 0x20 : 0x21, fam, block });
    return { bytes, header: { version: 2, command: local ? 'LOCAL' : 'PROXY', family: 'UNSPEC', source: null, destination: null, length: bytes.length } };
  });

const valid = fc.oneof(v1Tcp, v1Unknown, v2Tcp, v2Unspec).filter((s) => s.bytes.length <= PROXY_V2_MAX_BYTES);
const trailer = fc.uint8Array({ maxLength: 64 });
/** Cut points for feeding an input in chunks (sorted, may repeat: empty chunks too). */
const cuts = fc.array(fc.nat(), { maxLength: 8 });

/** Random bytes, mostly behind the start of a signature so the deep paths are reached. */
const hostile = fc
  .tuple(
    fc.constantFrom(
      Buffer.alloc(0),
      Buffer.from('PROXY '),
      Buffer.from('PROXY TCP4 '),
      Buffer.from('PROXY TCP6 '),
      Buffer.from('PROXY UNKNOWN'),
      Buffer.from(PROXY_V2_SIGNATURE),
      Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x21, 0x11])]),
      Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x20, 0x00])]),
    ),
    fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: PROXY_V2_MAX_BYTES - 100, maxLength: PROXY_V2_MAX_BYTES + 300 })),
  )
  .map(([head, tail]) => Buffer.concat([head, tail]));

type Mutation = { at: number; op: 'flip' | 'set' | 'delete' | 'insert' | 'truncate'; value: number };
const mutation: fc.Arbitrary<Mutation> = fc.record({ at: fc.nat(), op: fc.constantFrom('flip', 'set', 'delete', 'insert', 'truncate'), value: fc.integer({ min: 0, max: 255 }) });

function mutate(bytes: Uint8Array, ms: Mutation[]): Buffer {
  let b = Buffer.from(bytes);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.op === 'flip') b[at] = b[at]! ^ (1 << (m.value & 7));
    else if (m.op === 'set') b[at] = m.value;
    else if (m.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.value]), b.subarray(at)]);
    else b = b.subarray(0, at);
  }
  return b;
}

/** Feeds `input` cut at `points`; returns the last answer, the bytes after the header, and the parser. */
function feedChunked(input: Uint8Array, points: number[]): { step: ParseStep; rest: Buffer; parser: ProxyHeaderParser } {
  const parser = new ProxyHeaderParser();
  const at = [...points.map((p) => p % (input.length + 1)), input.length].sort((a, b) => a - b);
  let from = 0;
  let step: ParseStep = { kind: 'more' };
  const rests: Uint8Array[] = [];
  for (const to of at) {
    step = parser.feed(input.subarray(from, to));
    if (step.kind === 'done') rests.push(step.rest);
    from = to;
  }
  return { step, rest: Buffer.concat(rests), parser };
}

/** The invariants every input must keep. */
function checkInvariants(input: Uint8Array, points: number[]): void {
  const whole = new ProxyHeaderParser();
  const once = whole.feed(input);
  const chunked = feedChunked(input, points);
  assert.equal(chunked.step.kind, once.kind, 'chunking changes the verdict');
  if (once.kind === 'error') assert.deepEqual(chunked.step, once);
  const cap = input[0] === 0x50 ? PROXY_V1_MAX_BYTES : PROXY_V2_MAX_BYTES;
  assert.ok(whole.consumed <= cap && chunked.parser.consumed <= cap, `took ${whole.consumed} bytes, cap ${cap}`);
  if (input.length >= cap) assert.notEqual(once.kind, 'more', 'undecided after the cap');
  if (once.kind !== 'done' || chunked.step.kind !== 'done') return;
  assert.deepEqual(chunked.step.header, once.header);
  assert.ok(once.header.length <= Math.min(input.length, cap));
  assert.deepEqual(Buffer.from(once.rest), Buffer.from(input.subarray(once.header.length)));
  assert.deepEqual(chunked.rest, Buffer.from(input.subarray(once.header.length)), 'chunking changes the bytes after the header');
  const own = parseProxyHeader(input.subarray(0, once.header.length));
  assert.ok(own.kind === 'done' && own.rest.length === 0);
  assert.deepEqual(own.header, once.header, 'the header is not accepted again from its own bytes');
  const k = points[0] === undefined ? 0 : points[0] % once.header.length;
  assert.deepEqual(parseProxyHeader(input.subarray(0, k)), { kind: 'more' }, `a ${k}-byte prefix of an accepted header is not "more"`);
}

describe('fuzz: PROXY protocol parser', () => {
  it('valid headers of every kind parse to what was sent, whole or in chunks', () => {
    fc.assert(
      fc.property(valid, trailer, cuts, (sample, tail, points) => {
        const input = Buffer.concat([sample.bytes, tail]);
        const once = parseProxyHeader(input);
        assert.ok(once.kind === 'done', JSON.stringify(once));
        assert.deepEqual(once.header, sample.header);
        assert.deepEqual(Buffer.from(once.rest), Buffer.from(tail));
        checkInvariants(input, points);
      }),
      options,
    );
  });

  it('random bytes behind the signatures: never a throw, decided within the cap, chunking-proof', () => {
    fc.assert(fc.property(hostile, cuts, (input, points) => checkInvariants(input, points)), options);
  });

  it('mutations of valid headers keep every invariant', () => {
    fc.assert(
      fc.property(valid, trailer, fc.array(mutation, { minLength: 1, maxLength: 3 }), cuts, (sample, tail, ms, points) => {
        checkInvariants(mutate(Buffer.concat([sample.bytes, tail]), ms), points);
      }),
      options,
    );
  });
});
