/**
 * fast-check arbitraries for the SFTP fuzzer: whole client sessions (a seeded home, the channel's
 * behaviour, then batches of steps sent back to back), where a step is a typed request of any
 * kind (extensions included) with hostile paths, handles, offsets, lengths, flags and attributes,
 * an encoded request with byte mutations, a request whose path is raw (invalid UTF-8) bytes, a
 * raw payload, or a second INIT. Values are plain data, so fc.stringify prints a replayable
 * counterexample. Handles are symbolic ({ ref }: one the server returned earlier), resolved when
 * the step is sent; paths may hold @@HOME@@ / @@BOX@@, replaced by the sandbox's host paths.
 */
import fc from 'fast-check';
import type { SftpIdRequest } from '../../src/sftp/request-types.js';
import type { WorldSetup } from './world.js';

/** A handle: the n-th one the server returned (mod the count), or raw bytes. */
export type HandleSpec = { ref: number } | { raw: Uint8Array };
/** WRITE payload: literal bytes, or `length` copies of `fill` (large payloads cheaply). */
export type DataSpec = { bytes: Uint8Array } | { fill: number; length: number };
/** A request id: 'auto' (a fresh one) or a fixed, possibly colliding, value. */
export type IdSpec = 'auto' | number;
/** A request before resolution: SftpIdRequest's fields, handles as HandleSpec, data as DataSpec. */
export type ReqSpec = { kind: SftpIdRequest['kind'] } & Record<string, unknown>;

/** One byte-level change to an encoded packet (`at` is taken modulo the payload length). */
export type Mutation =
  | { m: 'flip'; at: number; bit: number }
  | { m: 'set'; at: number; value: number }
  | { m: 'insert'; at: number; bytes: Uint8Array }
  | { m: 'delete'; at: number; count: number }
  | { m: 'truncate'; at: number }
  | { m: 'u32'; at: number; value: number }
  | { m: 'u64'; at: number; hi: number; lo: number }
  | { m: 'header'; at: number; value: number }
  | { m: 'length'; delta: number }
  | { m: 'lengthTo'; value: number }
  | { m: 'dup' };

/** One thing the client sends. */
export type Step =
  | { t: 'req'; id: IdSpec; req: ReqSpec }
  | { t: 'mut'; id: IdSpec; req: ReqSpec; muts: Mutation[] }
  | { t: 'rawpath'; id: IdSpec; type: number; path: Uint8Array; tail: Uint8Array }
  | { t: 'raw'; payload: Uint8Array }
  | { t: 'init'; version: number };

/** The session-wide choices. */
export interface Setup extends WorldSetup {
  /** The quota is the seeded usage plus this (always a limit: huge sparse files would make check-file slow). */
  quotaSlack: number;
  /** The entry limit is the seeded entries plus this; absent = unlimited. */
  entrySlack?: number;
  symlinks: boolean;
  maxHandles: number;
  highWaterMark: number;
  slowWrites: boolean;
  /** INIT's version and trailing bytes, and mutations of the INIT packet (usually none). */
  init: { version: number; trailing: Uint8Array; muts: Mutation[] };
}

/** A whole fuzzed session. */
export interface Sequence {
  setup: Setup;
  batches: Step[][];
  /** Chunk sizes (cycled) each batch's bytes are cut into; [] = one write per batch. */
  chunks: number[];
  /** 'eof': end the input and let the session finish; 'destroy': drop the channel at once. */
  end: 'eof' | 'destroy';
}

// ---- paths ----

/** Whole hostile spellings. */
export const PATHS: readonly string[] = [
  '', '.', '..', '/', '//', '/..', '/../..', '../../..', '/./.', '...', '~', '~/', '~/a.txt', '~fuzz/a.txt', '~root', '~/../..',
  'a.txt', '/a.txt', 'a.txt/', 'a.txt/.', 'a.txt/..', '/a.txt/x', 'empty.txt', 'dir', '/dir/', 'dir/b.bin', 'dir/sub', 'dir/../a.txt',
  'dir//b.bin', 'dir/./sub/..', 'dir/back', 'dir/esc', 'dir/esc/secret.txt', 'dir/esc/new.txt', 'new.txt', 'dir/new', 'n1', 'n2', 'dir/sub/n3',
  'link-in', 'link-dir', 'link-dir/b.bin', 'link-dir/new', 'out', 'out/', 'out/secret.txt', 'out/new.txt', 'out/dir/inner.txt', 'out-file',
  'dangling', 'up', 'up/', 'up/outside/secret.txt', 'up/home2/secret.txt', 'up/new.txt', 'up/home/a.txt', 'sib', 'sib/secret.txt',
  'abs', 'abs-dir', 'abs-dir/secret.txt', 'abs-dir/new.txt', 'loop', 'loop/x', 'fifo', '/fifo',
  '../outside/secret.txt', '/../outside/secret.txt', '../home2/secret.txt', '../../top.txt', '/../../top.txt', '../home2',
  '../home', '../home/a.txt', '../outside/new.txt', '..\\outside\\secret.txt', '..\\..\\top.txt', 'a\\..\\..\\x', '\\\\',
  'x\u0000y', 'a.txt\u0000', '\u0000', '\n', 'a\rb', 'a\u001bb', '\u007f', '\ufffd', 'a\ufffd', '．．／outside', '\u202e', 'e\u0301', '%2e%2e/%2e%2e/top.txt',
  '/etc/passwd', '../../../../../../etc/passwd', '@@HOME@@', '@@HOME@@/a.txt', '@@BOX@@/outside/secret.txt', '@@BOX@@/home2', '@@BOX@@/../top.txt',
];

/**
 * Names full of glob characters (`*?[]\!^-`): SFTP takes them literally, and scp's download
 * patterns (src/scp/glob.ts) must meet them as names; one is the issue 23 attack pattern.
 */
const GLOBISH: readonly string[] = ['[a]', '[!a]*', 'a\\*', '\\[x\\]', '^-!', '[]', '[z-a]', 'x[', ']*?', '*a*a*a*a*a*a*a*a*b', '\\'];

/** Name components to build paths from. */
const SEGMENTS: readonly string[] = [
  '.', '..', '', 'a.txt', 'empty.txt', 'dir', 'sub', 'b.bin', 'new.txt', 'n1', 'n2', 'link-in', 'link-dir', 'out', 'out-file', 'dangling',
  'up', 'sib', 'abs', 'abs-dir', 'loop', 'fifo', 'back', 'esc', 'outside', 'home', 'home2', 'secret.txt', 'top.txt', '\\', '..\\..',
  ' ', '-', '*', '?', 'x\u0000', '\t', ...GLOBISH,
];

const longPath = fc.constantFrom(255, 256, 1024, 4095, 4096, 4097, 70000).chain((n) =>
  fc.constantFrom('a'.repeat(n), 'd/'.repeat(Math.ceil(n / 2)), '../'.repeat(Math.ceil(n / 3)), '/'.repeat(n)),
);

/** Names that exist or that earlier steps create, so that steps build on each other. */
const PLAIN: readonly string[] = [
  'a.txt', '/a.txt', 'new.txt', '/new.txt', 'n1', 'n2', 'dir/b.bin', 'dir/new', 'dir/sub/n3', 'empty.txt', 'link-in', 'link-dir/b.bin', 'dir', 'dir/sub', '/', 'd2', 'd2/n4',
  '[g]*?.txt', 'dir/a\\*[!^-]', 'd2/*a*a*a*a*a*a*a*a*b',
];

/** A virtual path (a valid UTF-8 string). */
export const pathArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...PLAIN) },
  { weight: 8, arbitrary: fc.constantFrom(...PATHS) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.boolean(), fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 6 }))
      .map(([abs, segs]) => (abs ? '/' : '') + segs.join('/')),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
  { weight: 1, arbitrary: longPath },
);

/** Path bytes that are not valid UTF-8 (overlong dots, lone bytes, surrogates) or random. */
export const rawPathArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom(
    Uint8Array.from([0xc0, 0xae, 0xc0, 0xae, 0x2f, 0x74, 0x6f, 0x70]),
    Uint8Array.from([0x2e, 0x2e, 0xc0, 0xaf, 0x2e, 0x2e]),
    Uint8Array.from([0xff]),
    Uint8Array.from([0xed, 0xa0, 0x80]),
    Uint8Array.from([0xe0, 0x80, 0xae, 0xe0, 0x80, 0xae]),
    Uint8Array.from([0x61, 0x2e, 0x74, 0x78, 0x74, 0x80]),
    Uint8Array.from([0x63, 0x61, 0x66, 0xe9]),
    Uint8Array.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
  ),
  fc.uint8Array({ maxLength: 24 }),
);

// ---- numbers ----

const u32Edge = fc.constantFrom(0, 1, 2, 255, 256, 4095, 4096, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff);
const u32Arb = fc.oneof({ weight: 2, arbitrary: u32Edge }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) });

/** Offsets and sizes: small, block edges, 2^31/2^32/2^40, 2^53-1. */
export const offsetArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 9000 }) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 4095, 4096, 65536, 261120, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40, 2 ** 53 - 2, 2 ** 53 - 1) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }) },
);

const readLengthArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 70000 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 32768, 261120, 261121, 262144, 2 ** 31, 0xffff_ffff) },
);

const dataArb: fc.Arbitrary<DataSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 600 }).map((bytes) => ({ bytes })) },
  {
    weight: 1,
    arbitrary: fc.record({ fill: fc.integer({ min: 0, max: 255 }), length: fc.constantFrom(4096, 65536, 261120, 261121, 262100, 262144) }),
  },
);

/** Open pflags: every combination of the six bits, sometimes with unknown bits set. */
export const pflagsArb: fc.Arbitrary<number> = fc.oneof(
  // READ, WRITE|CREAT, WRITE|CREAT|TRUNC, READ|WRITE, WRITE|APPEND|CREAT, WRITE|CREAT|EXCL, READ|WRITE|CREAT
  { weight: 8, arbitrary: fc.constantFrom(0x01, 0x0a, 0x1a, 0x03, 0x0e, 0x2a, 0x0b) },
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 63 }) },
  { weight: 1, arbitrary: u32Arb },
);

const permsArb = fc.oneof(fc.constantFrom(0, 0o644, 0o777, 0o7777, 0o4755, 0o2755, 0o1777, 0o100644, 0o40755, 0o170777, 0xffff_ffff), u32Arb);
const timeArb = fc.oneof(fc.constantFrom(0, 1, 1_700_000_000, 0x7fff_ffff, 0xffff_ffff), u32Arb);
const uidArb = fc.constantFrom(0, 1, 1000, 65534, 0xffff_ffff);

/** ATTRS with any subset of the fields (the EXTENDED flag included). */
export const attrsArb: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    size: offsetArb,
    uid: uidArb,
    gid: uidArb,
    permissions: permsArb,
    atime: timeArb,
    mtime: timeArb,
    extended: fc.array(fc.record({ type: fc.constantFrom('', 'x@y', 'acl@openssh.com', '\u0000'), data: fc.uint8Array({ maxLength: 8 }) }), {
      maxLength: 3,
    }),
  },
  { requiredKeys: [] },
);

// ---- handles and requests ----

/** Mostly a handle the server returned; else 8 random bytes, empty, or 256/257 bytes. */
export const handleArb: fc.Arbitrary<HandleSpec> = fc.oneof(
  { weight: 12, arbitrary: fc.nat({ max: 1000 }).map((ref) => ({ ref })) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((raw) => ({ raw })) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 7, 9, 256, 257).map((n) => ({ raw: new Uint8Array(n).fill(0x41) })) },
);

const algorithmsArb = fc.oneof(
  fc.constantFrom(['md5'], ['sha1'], ['sha256', 'md5'], ['sha512'], ['crc32'], [''], ['md5', 'md5'], ['SHA256'], ['sha224', 'sha384']),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
);
const blockSizeArb = fc.constantFrom(0, 1, 255, 256, 4096, 0xffff_ffff);
const extNameArb = fc.constantFrom('', 'hardlink@openssh.com', 'lsetstat@openssh.com', 'users-groups-by-id@openssh.com', 'posix-rename@openssh.comX', 'x', '\u0000');

const p = pathArb;
const h = handleArb;
const kind = <K extends SftpIdRequest['kind']>(k: K, fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc.record(fields).map((f) => ({ kind: k, ...f }) as ReqSpec);

/** A typed request of any kind, weighted towards what creates and uses handles. */
export const requestArb: fc.Arbitrary<ReqSpec> = fc.oneof(
  { weight: 14, arbitrary: kind('open', { path: p, pflags: pflagsArb, attrs: attrsArb }) },
  { weight: 8, arbitrary: kind('close', { handle: h }) },
  { weight: 10, arbitrary: kind('read', { handle: h, offset: offsetArb, length: readLengthArb }) },
  { weight: 12, arbitrary: kind('write', { handle: h, offset: offsetArb, data: dataArb }) },
  { weight: 3, arbitrary: kind('lstat', { path: p }) },
  { weight: 3, arbitrary: kind('stat', { path: p }) },
  { weight: 3, arbitrary: kind('fstat', { handle: h }) },
  { weight: 5, arbitrary: kind('setstat', { path: p, attrs: attrsArb }) },
  { weight: 5, arbitrary: kind('fsetstat', { handle: h, attrs: attrsArb }) },
  { weight: 4, arbitrary: kind('opendir', { path: p }) },
  { weight: 4, arbitrary: kind('readdir', { handle: h }) },
  { weight: 5, arbitrary: kind('remove', { path: p }) },
  { weight: 4, arbitrary: kind('mkdir', { path: p, attrs: attrsArb }) },
  { weight: 3, arbitrary: kind('rmdir', { path: p }) },
  { weight: 2, arbitrary: kind('realpath', { path: p }) },
  { weight: 5, arbitrary: kind('rename', { oldPath: p, newPath: p }) },
  { weight: 5, arbitrary: kind('posix-rename', { oldPath: p, newPath: p }) },
  { weight: 2, arbitrary: kind('readlink', { path: p }) },
  { weight: 3, arbitrary: kind('symlink', { first: p, second: p }) },
  { weight: 1, arbitrary: kind('statvfs', { path: p }) },
  { weight: 1, arbitrary: kind('fstatvfs', { handle: h }) },
  { weight: 2, arbitrary: kind('fsync', { handle: h }) },
  { weight: 1, arbitrary: kind('limits', {}) },
  { weight: 1, arbitrary: kind('expand-path', { path: p }) },
  { weight: 1, arbitrary: kind('home-directory', { username: fc.constantFrom('fuzz', 'root', '', '../fuzz', 'fuzz\u0000', '~') }) },
  {
    weight: 5,
    arbitrary: kind('copy-data', { readHandle: h, readOffset: offsetArb, readLength: offsetArb, writeHandle: h, writeOffset: offsetArb }),
  },
  { weight: 2, arbitrary: kind('check-file-name', { path: p, algorithms: algorithmsArb, start: offsetArb, length: offsetArb, blockSize: blockSizeArb }) },
  {
    weight: 2,
    arbitrary: kind('check-file-handle', {
      handle: h,
      algorithms: algorithmsArb,
      start: offsetArb,
      length: offsetArb,
      blockSize: blockSizeArb,
      legacy: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: kind('unknown-extended', { name: extNameArb, data: fc.uint8Array({ maxLength: 16 }) }) },
);

// ---- mutations and steps ----

const interestingU32 = fc.constantFrom(0, 1, 4, 8, 256, 257, 0x3_ffff, 0x4_0000, 0x4_0001, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff);

/** Mutations of the framing or the type/id bytes: they may make the stream unanswerable. */
const framingMutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ m: fc.constant('header' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ m: fc.constant('length' as const), delta: fc.integer({ min: -3, max: 3 }) }),
  fc.record({ m: fc.constant('lengthTo' as const), value: fc.constantFrom(0, 1, 4, 0x4_0000, 0x4_0001, 0xffff_ffff) }),
);

/** One byte-level mutation of a packet's body (never of its framing, type or id). */
export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ m: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ m: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 2, arbitrary: fc.record({ m: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ m: fc.constant('u32' as const), at: fc.nat(), value: interestingU32 }) },
  {
    weight: 2,
    arbitrary: fc.record({
      m: fc.constant('u64' as const),
      at: fc.nat(),
      hi: fc.constantFrom(0, 0x1f_ffff, 0x20_0000, 0x7fff_ffff, 0xffff_ffff),
      lo: fc.constantFrom(0, 1, 0xffff_ffff),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ m: 'dup' as const }) },
);

const idArb: fc.Arbitrary<IdSpec> = fc.oneof(
  { weight: 30, arbitrary: fc.constant('auto' as const) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 2, 3, 0x7fff_ffff, 0xffff_ffff) },
);

/** Request types whose first field is a path (and EXTENDED, whose name comes first). */
const PATH_TYPES = [3, 7, 9, 11, 13, 14, 15, 16, 17, 18, 19, 20, 200];

const reqStep = fc.record({ t: fc.constant('req' as const), id: idArb, req: requestArb });
const mutStep = (muts: fc.Arbitrary<Mutation>) =>
  fc.record({ t: fc.constant('mut' as const), id: idArb, req: requestArb, muts: fc.array(muts, { minLength: 1, maxLength: 3 }) });
const rawPathStep = fc.record({
  t: fc.constant('rawpath' as const),
  id: idArb,
  type: fc.constantFrom(...PATH_TYPES),
  path: rawPathArb,
  tail: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 24 })),
});

/** One step that always owes exactly one reply: typed requests, body mutations, raw-byte paths. */
export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 40, arbitrary: reqStep },
  { weight: 6, arbitrary: mutStep(mutationArb) },
  { weight: 2, arbitrary: rawPathStep },
);

/** Steps that may also break the stream: framing/id mutations, raw payloads, a second INIT. */
export const hostileStepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 40, arbitrary: reqStep },
  { weight: 6, arbitrary: mutStep(mutationArb) },
  { weight: 2, arbitrary: rawPathStep },
  { weight: 1, arbitrary: mutStep(fc.oneof({ weight: 3, arbitrary: mutationArb }, { weight: 1, arbitrary: framingMutationArb })) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('raw' as const), payload: fc.uint8Array({ minLength: 0, maxLength: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('init' as const), version: fc.constantFrom(3, 0, 6) }) },
);

const batchArb = (step: fc.Arbitrary<Step>) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.array(step, { minLength: 1, maxLength: 3 }) },
    { weight: 2, arbitrary: fc.array(step, { minLength: 1, maxLength: 16, size: 'max' }) },
    // Large pipelined batches (past the session's 64 requests in flight); minLength 1 so they shrink.
    { weight: 1, arbitrary: fc.array(step, { minLength: 1, maxLength: 90, size: 'max' }) },
  );

/** The session-wide choices; the INIT is usually clean. */
export const setupArb: fc.Arbitrary<Setup> = fc.record({
  aSize: fc.constantFrom(0, 1, 100, 4096, 5000),
  bSize: fc.constantFrom(0, 10, 70000),
  quotaSlack: fc.constantFrom(0, 1, 10, 600, 4096, 70000, 1_000_000),
  entrySlack: fc.constantFrom(0, 1, 3, 1000),
  symlinks: fc.boolean(),
  maxHandles: fc.constantFrom(1, 2, 4, 256),
  highWaterMark: fc.constantFrom(1, 64, 16384, 1 << 20),
  slowWrites: fc.boolean(),
  init: fc.record({
    version: fc.oneof({ weight: 8, arbitrary: fc.constant(3) }, { weight: 1, arbitrary: fc.constantFrom(0, 2, 6, 0xffff_ffff) }),
    trailing: fc.oneof({ weight: 8, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }) }),
    muts: fc.oneof({ weight: 30, arbitrary: fc.constant([] as Mutation[]) }, { weight: 1, arbitrary: fc.array(fc.oneof(mutationArb, framingMutationArb), { minLength: 1, maxLength: 2 }) }),
  }),
});

/** A session built from `step`s. */
const sessionArb = (step: fc.Arbitrary<Step>): fc.Arbitrary<Sequence> =>
  fc.record({
    setup: setupArb,
    batches: fc.array(batchArb(step), { minLength: 1, maxLength: 14 }),
    chunks: fc.oneof(
      { weight: 3, arbitrary: fc.constant([] as number[]) },
      { weight: 1, arbitrary: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 5 }) },
      { weight: 1, arbitrary: fc.array(fc.constantFrom(1, 3, 4, 5, 13, 1000, 70000), { minLength: 1, maxLength: 3 }) },
    ),
    end: fc.oneof({ weight: 6, arbitrary: fc.constant('eof' as const) }, { weight: 1, arbitrary: fc.constant('destroy' as const) }),
  });

/** A whole session: usually with a clean stream, one in four with stream-breaking steps too. */
export const sequenceArb: fc.Arbitrary<Sequence> = fc.oneof({ weight: 3, arbitrary: sessionArb(stepArb) }, { weight: 1, arbitrary: sessionArb(hostileStepArb) });
