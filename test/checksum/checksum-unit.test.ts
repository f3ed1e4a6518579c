/**
 * Unit tests of issue 6's checksum parts, without a server: checksumFile over a LocalVfs file
 * compared with node:crypto and coreutils on the same bytes (whole file, start offsets, lengths,
 * blocks with a last partial block, empty files, refusals), the in-thread fallback (at most
 * IN_THREAD_MAX bytes through one buffer, larger ranges refused), pickAlgorithm, the exec commands'
 * shell-word splitting and quoting (round trips checked against /bin/sh), and checksum-route's
 * option handling and coreutils line format.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileArguments, sumLine } from '../../src/server/checksum-route.js';
import { ShellWordsError, quoteShellWord, splitShellWords } from '../../src/util/shell-words.js';
import { CHECKSUM_ALGORITHMS, checksumFile, DIGEST_BYTES, IN_THREAD_MAX, MIN_BLOCK_SIZE, pickAlgorithm, type ChecksumAlgorithm, type ChecksumRange } from '../../src/vfs/checksum.js';
import { LocalVfs } from '../../src/vfs/local-vfs.js';
import type { HashOptions, VfsFile } from '../../src/vfs/vfs.js';
import { VfsError } from '../../src/vfs/vfs-error.js';

const MiB = 1024 * 1024;
const READ_ONLY = { read: true, write: false, append: false, creat: false, trunc: false, excl: false };
/** 3 MiB + 777: crosses the 1 MiB read size, and no block size below divides it. */
const SIZE = 3 * MiB + 777;

const hex = (b: Buffer): string => b.toString('hex');
/** Concatenated digests of `alg` as hex strings, one per digest. */
const split = (d: Buffer, alg: ChecksumAlgorithm): string[] =>
  Array.from({ length: d.length / DIGEST_BYTES[alg] }, (_, i) => hex(d.subarray(i * DIGEST_BYTES[alg], (i + 1) * DIGEST_BYTES[alg])));
const digestOf = (alg: ChecksumAlgorithm, data: Buffer): string => createHash(alg).update(data).digest('hex');
/** What check-file must answer for `range` of `data`, computed independently of checksum.ts. */
function expected(alg: ChecksumAlgorithm, data: Buffer, start: number, length: number, blockSize: number): string[] {
  const end = length === 0 ? data.length : Math.min(data.length, start + length);
  const slice = data.subarray(Math.min(start, data.length), Math.max(end, Math.min(start, data.length)));
  if (blockSize === 0 || slice.length === 0) return [digestOf(alg, slice)];
  const out: string[] = [];
  for (let i = 0; i < slice.length; i += blockSize) out.push(digestOf(alg, slice.subarray(i, i + blockSize)));
  return out;
}

/** Runs a program (no shell) and resolves its stdout; rejects on a non-zero exit. */
function runOut(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err}`))));
    if (child.stdin) {
      child.stdin.on('error', () => {}); // a program that exits without reading its input
      child.stdin.end(opts.input);
    }
  });
}

describe('checksumFile over a LocalVfs file', () => {
  let home: string;
  let vfs: LocalVfs;
  let data: Buffer;
  let file: VfsFile;
  let emptyFile: VfsFile;
  const sums = (alg: ChecksumAlgorithm, range: ChecksumRange, f: VfsFile = file) => checksumFile(f, alg, range).then((d) => split(d, alg));

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'coffer-checksum-unit-'));
    data = randomBytes(SIZE);
    await writeFile(join(home, 'data.bin'), data);
    await writeFile(join(home, 'empty'), '');
    vfs = await LocalVfs.create(home, { symlinks: false });
    file = await vfs.open('/data.bin', READ_ONLY);
    emptyFile = await vfs.open('/empty', READ_ONLY);
  });
  after(async () => {
    await file.close();
    await emptyFile.close();
    await rm(home, { recursive: true, force: true });
  });

  it('whole file: one digest per algorithm equal to node:crypto, and to coreutils *sum on disk', async () => {
    for (const alg of CHECKSUM_ALGORITHMS) {
      const got = await sums(alg, { start: 0, length: 0, blockSize: 0 });
      assert.deepEqual(got, [digestOf(alg, data)], alg);
      assert.equal(Buffer.from(got[0]!, 'hex').length, DIGEST_BYTES[alg], `${alg}: digest length`);
      const coreutils = (await runOut(`${alg}sum`, ['data.bin'], { cwd: home })).split(' ')[0];
      assert.equal(got[0], coreutils, `${alg}sum data.bin`);
    }
  });

  it('start offsets: hashes from the offset to the end (at or past EOF: the digest of nothing)', async () => {
    for (const start of [1, 1000, MiB - 1, MiB, MiB + 1, SIZE - 1, SIZE, SIZE + 1, SIZE + 10 * MiB]) {
      assert.deepEqual(await sums('sha256', { start, length: 0, blockSize: 0 }), expected('sha256', data, start, 0, 0), `start ${start}`);
    }
    assert.deepEqual(await sums('sha256', { start: SIZE, length: 0, blockSize: 0 }), [digestOf('sha256', Buffer.alloc(0))]);
  });

  it('lengths: exactly `length` bytes, clamped at EOF, 0 = to the end', async () => {
    const cases: Array<[number, number]> = [
      [0, 1],
      [0, 1000],
      [0, MiB],
      [0, MiB + 1],
      [5, 2 * MiB + 3],
      [SIZE - 100, 100], // ends exactly at EOF
      [SIZE - 100, 101], // one past EOF
      [SIZE - 100, 10 * MiB], // far past EOF
      [123_456, 0], // 0 = to the end
      [SIZE + 5, 1000], // starts past EOF
    ];
    for (const [start, length] of cases) {
      assert.deepEqual(await sums('md5', { start, length, blockSize: 0 }), expected('md5', data, start, length, 0), `start ${start} length ${length}`);
    }
    assert.deepEqual(await sums('sha1', { start: 0, length: SIZE, blockSize: 0 }), await sums('sha1', { start: 0, length: 0, blockSize: 0 }), 'length = size is the whole file');
  });

  it('a range agrees with coreutils on the same bytes sliced by dd', async () => {
    const [start, length] = [4096 * 3, 4096 * 100];
    const slice = await runOut('sh', ['-c', `dd if=data.bin bs=4096 skip=3 count=100 status=none | sha256sum`], { cwd: home });
    assert.deepEqual(await sums('sha256', { start, length, blockSize: 0 }), [slice.split(' ')[0]]);
  });

  it('block sizes 256, 1000 and 1 MiB: one digest per block, the last block partial, none empty', async () => {
    for (const blockSize of [256, 1000, MiB]) {
      const got = await sums('sha1', { start: 0, length: 0, blockSize });
      assert.equal(got.length, Math.ceil(SIZE / blockSize), `block ${blockSize}: count`);
      assert.deepEqual(got, expected('sha1', data, 0, 0, blockSize), `block ${blockSize}`);
      assert.equal(got.at(-1), digestOf('sha1', data.subarray(Math.floor(SIZE / blockSize) * blockSize)), `block ${blockSize}: last partial block`);
    }
  });

  it('blocks within a range (offset and length), and a range that is a multiple of the block size', async () => {
    const cases: Array<[number, number, number]> = [
      [100, 10_000, 256], // 39 full blocks + 16 bytes
      [MiB - 10, 2 * MiB + 20, MiB], // blocks straddle the read size
      [0, 2048, 256], // exactly 8 blocks: no trailing digest of nothing
      [SIZE - 1000, 0, 256], // to the end: 3 full + 232
      [SIZE - 1000, 5000, 1000], // one block, clamped at EOF
      [0, 255, 256], // a single partial block
    ];
    for (const [start, length, blockSize] of cases) {
      const got = await sums('sha512', { start, length, blockSize });
      const want = expected('sha512', data, start, length, blockSize);
      assert.deepEqual(got, want, `start ${start} length ${length} block ${blockSize}`);
    }
    assert.equal((await sums('md5', { start: 0, length: 2048, blockSize: 256 })).length, 8);
  });

  it('an empty file: one digest of nothing, with or without a block size (documented choice)', async () => {
    const nothing = (alg: ChecksumAlgorithm) => digestOf(alg, Buffer.alloc(0));
    for (const alg of CHECKSUM_ALGORITHMS) assert.deepEqual(await sums(alg, { start: 0, length: 0, blockSize: 0 }, emptyFile), [nothing(alg)], alg);
    assert.equal(nothing('sha256'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal((await runOut('sha256sum', ['empty'], { cwd: home })).split(' ')[0], nothing('sha256'));
    // With a block size the empty range is still answered with one digest of nothing (never an
    // empty digest list): a client reading "one hash per block, the last partial" gets one hash,
    // equal to what sha256sum prints for an empty file. Same for an empty range of a non-empty file.
    assert.deepEqual(await sums('sha256', { start: 0, length: 0, blockSize: 256 }, emptyFile), [nothing('sha256')]);
    assert.deepEqual(await sums('sha256', { start: 0, length: 1000, blockSize: MiB }, emptyFile), [nothing('sha256')]);
    assert.deepEqual(await sums('sha256', { start: SIZE, length: 0, blockSize: 256 }), [nothing('sha256')]);
  });

  it('block sizes 1..255 are refused (FAILURE), 256 is the smallest accepted', async () => {
    assert.equal(MIN_BLOCK_SIZE, 256);
    for (const blockSize of [1, 2, 100, 255]) {
      await assert.rejects(checksumFile(file, 'md5', { start: 0, length: 0, blockSize }), (err: unknown) => {
        assert.ok(err instanceof VfsError, `block ${blockSize}: a VfsError`);
        assert.equal(err.code, 'FAILURE');
        assert.match(err.message, /at least 256/);
        return true;
      });
    }
    assert.equal((await sums('md5', { start: 0, length: 512, blockSize: 256 })).length, 2);
  });

  it('maxDigests: more blocks than allowed is refused before hashing; exactly the limit passes', async () => {
    const blocks = Math.ceil(SIZE / 256);
    await assert.rejects(checksumFile(file, 'md5', { start: 0, length: 0, blockSize: 256, maxDigests: blocks - 1 }), (err: unknown) => {
      assert.ok(err instanceof VfsError);
      assert.equal(err.code, 'FAILURE');
      assert.match(err.message, /Too many blocks/);
      return true;
    });
    assert.equal((await checksumFile(file, 'md5', { start: 0, length: 0, blockSize: 256, maxDigests: blocks })).length, blocks * DIGEST_BYTES.md5);
    // A whole-range digest is one digest, whatever the limit.
    assert.equal((await checksumFile(file, 'md5', { start: 0, length: 0, blockSize: 0, maxDigests: 1 })).length, DIGEST_BYTES.md5);
  });
});

/** A VfsFile over generated bytes that records every read (to check the streaming pattern). */
function recordingFile(content: Buffer, stats: Partial<Stats> = {}): VfsFile & { reads: Array<{ length: number; offset: number; bufLength: number }>; buffers: Set<ArrayBufferLike> } {
  const reads: Array<{ length: number; offset: number; bufLength: number }> = [];
  const buffers = new Set<ArrayBufferLike>();
  const notUsed = () => Promise.reject(new Error('not used'));
  return {
    reads,
    buffers,
    async readInto(buf: Buffer, bufOffset: number, length: number, offset: number): Promise<number> {
      reads.push({ length, offset, bufLength: buf.length });
      buffers.add(buf.buffer);
      const n = Math.max(0, Math.min(length, content.length - offset));
      content.copy(buf, bufOffset, offset, offset + n);
      return n;
    },
    async stat() {
      return { size: content.length, isFile: () => true, ...stats } as Stats;
    },
    read: notUsed,
    write: notUsed,
    reserveWrite() {},
    setStat: notUsed,
    sync: notUsed,
    close: async () => {},
  };
}

describe('checksumFile read pattern and file kinds', () => {
  it('without a worker, a range of at most IN_THREAD_MAX is hashed on the event loop through one buffer, in sequential reads', async () => {
    const content = randomBytes(IN_THREAD_MAX);
    const f = recordingFile(content);
    const digest = await checksumFile(f, 'sha256', { start: 0, length: 0, blockSize: 0 });
    assert.equal(hex(digest), digestOf('sha256', content));
    assert.equal(f.buffers.size, 1, 'one buffer for the whole range');
    let next = 0;
    for (const r of f.reads) {
      assert.equal(r.offset, next, 'sequential');
      assert.ok(r.bufLength <= IN_THREAD_MAX);
      next += r.length;
    }
    assert.equal(next, content.length);
  });

  it('a larger range is refused (FAILURE) before reading when no worker hashes it: never megabytes on the event loop', async () => {
    const f = recordingFile(randomBytes(5 * MiB + 3));
    await assert.rejects(checksumFile(f, 'sha256', { start: 0, length: 0, blockSize: 0 }), (err: unknown) => err instanceof VfsError && err.code === 'FAILURE');
    assert.equal(f.reads.length, 0, 'nothing read');
    // A file that could hash off the event loop but has no worker now (hashRange gives null): the same.
    const busy = Object.assign(recordingFile(randomBytes(IN_THREAD_MAX + 1)), { hashRange: () => null });
    await assert.rejects(checksumFile(busy, 'md5', { start: 0, length: 0, blockSize: 0 }), (err: unknown) => err instanceof VfsError && err.code === 'FAILURE');
    assert.equal(busy.reads.length, 0, 'nothing read');
    assert.equal((await checksumFile(busy, 'md5', { start: 1, length: 0, blockSize: 0 })).length, DIGEST_BYTES.md5, 'one byte less fits');
  });

  it("passes the owner and the session's signal to the file's off-thread hashing", async () => {
    const seen: Array<HashOptions | undefined> = [];
    const f = Object.assign(recordingFile(randomBytes(10)), {
      hashRange: (_a: string, _s: number, _t: number, _b: number, opts?: HashOptions) => (seen.push(opts), Promise.resolve(Buffer.alloc(32))),
    });
    const signal = new AbortController().signal;
    await checksumFile(f, 'sha256', { start: 0, length: 0, blockSize: 0 }, { owner: 'alice', signal });
    assert.deepEqual(seen, [{ owner: 'alice', signal }]);
  });

  it('a small range allocates a buffer no larger than the range', async () => {
    const f = recordingFile(randomBytes(3 * MiB));
    await checksumFile(f, 'md5', { start: 10, length: 300, blockSize: 0 });
    assert.deepEqual(
      f.reads.map((r) => [r.offset, r.length, r.bufLength]),
      [[10, 300, 300]],
    );
  });

  it('a file that shrinks while being hashed: the digest of what was read, no hang', async () => {
    const content = randomBytes(IN_THREAD_MAX);
    const f = recordingFile(content.subarray(0, IN_THREAD_MAX / 2 + 5), { size: content.length }); // stat says more, data ends early
    const digest = await checksumFile(f, 'sha1', { start: 0, length: 0, blockSize: 0 });
    assert.equal(hex(digest), digestOf('sha1', content.subarray(0, IN_THREAD_MAX / 2 + 5)));
  });

  it('anything but a regular file is refused with NOT_A_FILE', async () => {
    const f = recordingFile(Buffer.alloc(10), { isFile: () => false });
    await assert.rejects(checksumFile(f, 'md5', { start: 0, length: 0, blockSize: 0 }), (err: unknown) => err instanceof VfsError && err.code === 'NOT_A_FILE');
    assert.equal(f.reads.length, 0, 'nothing read');
  });
});

describe('pickAlgorithm', () => {
  it('the first algorithm of the client list that Coffer supports wins', () => {
    assert.equal(pickAlgorithm(['crc32', 'sha256', 'md5']), 'sha256');
    assert.equal(pickAlgorithm(['md5', 'sha512']), 'md5');
    assert.equal(pickAlgorithm(['sha512', 'md5']), 'sha512');
    assert.equal(pickAlgorithm(['md4', 'crc32', 'sha-256', 'sha3-256', '', 'sha224']), 'sha224');
    for (const alg of CHECKSUM_ALGORITHMS) assert.equal(pickAlgorithm([alg]), alg);
  });
  it('names are matched without regard to case or surrounding blanks', () => {
    assert.equal(pickAlgorithm(['SHA256']), 'sha256');
    assert.equal(pickAlgorithm(['Md5']), 'md5');
    assert.equal(pickAlgorithm([' sha1 ']), 'sha1');
  });
  it('none supported (or an empty list) gives null', () => {
    assert.equal(pickAlgorithm([]), null);
    assert.equal(pickAlgorithm(['crc32', 'md4', 'sha-1', 'sha3-512', 'whirlpool', '']), null);
    assert.equal(pickAlgorithm(['sha256,md5']), null, 'a list is split by the decoder, not here');
  });
});

describe('splitShellWords and quoteShellWord', () => {
  it('splits like a POSIX shell: single quotes, double quotes with their escapes, backslashes, blanks', () => {
    assert.deepEqual(splitShellWords(`sha1sum '/dir/it'\\''s.txt'`), ['sha1sum', "/dir/it's.txt"]);
    assert.deepEqual(splitShellWords(`  sha256sum \t a   b\t`), ['sha256sum', 'a', 'b']);
    assert.deepEqual(splitShellWords(`a\\ b c\\'d`), ['a b', "c'd"]);
    assert.deepEqual(splitShellWords(`"a \\"b\\" \\\\ \\$x \\\` \\n"`), ['a "b" \\ $x ` \\n'], 'only \\" \\\\ \\$ \\` are escapes inside double quotes');
    assert.deepEqual(splitShellWords(`'$HOME `+"`x`"+` ; | & > < * ? [ ] { } ~ # ! ( )'`), ['$HOME `x` ; | & > < * ? [ ] { } ~ # ! ( )'], 'anything goes inside single quotes');
    assert.deepEqual(splitShellWords(`"; | & > < * ? ~ #"`), ['; | & > < * ? ~ #']);
    assert.deepEqual(splitShellWords(`'' ""`), ['', ''], 'empty quotes are empty words');
    assert.deepEqual(splitShellWords(`a'b'"c"\\d`), ['abcd'], 'adjacent pieces form one word');
    assert.deepEqual(splitShellWords(`'new\nline' 'car\rriage'`), ['new\nline', 'car\rriage']);
    assert.deepEqual(splitShellWords(`héllo wörld ✓ 日本語`), ['héllo', 'wörld', '✓', '日本語']);
    assert.deepEqual(splitShellWords(''), []);
    assert.deepEqual(splitShellWords('   '), []);
  });

  it('refuses what a shell would expand or interpret outside quotes', () => {
    for (const c of [...'$`;|&><*?[]{}~#!()', '\n', '\r']) {
      for (const line of [`sha256sum ${c}`, `sha256sum a${c}b`]) {
        assert.throws(() => splitShellWords(line), ShellWordsError, JSON.stringify(line));
      }
    }
    for (const line of ['sha256sum $(ls)', 'sha256sum `ls`', 'sha256sum a; rm a', 'sha256sum a && rm a', 'sha256sum a | cat', 'sha256sum a > b', 'sha256sum *', 'sha256sum ${HOME}']) {
      assert.throws(() => splitShellWords(line), ShellWordsError, line);
    }
  });

  it('refuses $ and ` inside double quotes, unterminated quotes and a trailing backslash', () => {
    assert.throws(() => splitShellWords(`"$HOME"`), /inside double quotes/);
    assert.throws(() => splitShellWords('"`ls`"'), /inside double quotes/);
    assert.throws(() => splitShellWords(`'abc`), /unterminated single quote/);
    assert.throws(() => splitShellWords(`"abc`), /unterminated double quote/);
    assert.throws(() => splitShellWords(`"abc\\"`), /unterminated double quote/);
    assert.throws(() => splitShellWords(`abc\\`), /backslash at the end/);
    assert.throws(() => splitShellWords(`a;b`), (err: unknown) => err instanceof ShellWordsError && err.code === 'COFFER_SHELL_WORDS' && /';' outside quotes/.test(err.message));
  });

  const NASTY = [
    'plain.txt',
    'with space.txt',
    "it's.txt",
    "'",
    "''",
    '"double"',
    'back\\slash',
    '\\',
    'tab\there',
    'new\nline',
    'car\rriage',
    '$HOME `ls` $(id)',
    '; rm -rf / | & > < * ? [a] {b} ~ # !',
    'uni ✓ héllo 日本語 🙂',
    '-dash',
    '',
    '  leading and trailing  ',
    "/dir/it's a \"test\".txt",
  ];

  it('quoteShellWord: safe words stay as they are, anything else is single-quoted', () => {
    assert.equal(quoteShellWord('a/b-c_d.e:f=g@h%i+j,k'), 'a/b-c_d.e:f=g@h%i+j,k');
    assert.equal(quoteShellWord("it's"), `'it'\\''s'`);
    assert.equal(quoteShellWord(''), `''`);
    assert.equal(quoteShellWord('a b'), `'a b'`);
  });

  it('round trip: splitShellWords(quoteShellWord(name)) gives every nasty name back', () => {
    const line = ['sha1sum', ...NASTY.map(quoteShellWord)].join(' ');
    assert.deepEqual(splitShellWords(line), ['sha1sum', ...NASTY]);
    for (const name of NASTY) assert.deepEqual(splitShellWords(quoteShellWord(name)), [name], JSON.stringify(name));
  });

  it('the quoting is what /bin/sh reads, and sh-quoted words split the same in Coffer', async () => {
    const line = NASTY.map(quoteShellWord).join(' ');
    const fromSh = (await runOut('sh', ['-c', `printf '%s\\0' ${line}`])).split('\0').slice(0, -1);
    assert.deepEqual(fromSh, NASTY);
    // rclone 1.60 escapes with backslashes (shellEscape): every unsafe character gets a `\`.
    const backslashed = (s: string) => s.replace(/[^A-Za-z0-9_.,:/@\u0080-\uffff\n-]/g, '\\$&').replace(/\n/g, `'\n'`);
    const names = NASTY.filter((n) => n !== '');
    assert.deepEqual(splitShellWords(names.map(backslashed).join(' ')), names);
    const shSplit = (await runOut('sh', ['-c', `printf '%s\\0' ${names.map(backslashed).join(' ')}`])).split('\0').slice(0, -1);
    assert.deepEqual(shSplit, names, 'the backslash form means the same to sh');
  });
});

describe('checksum-route: fileArguments and sumLine', () => {
  it('no name, or only ignored options, means standard input', () => {
    assert.deepEqual(fileArguments('sha256sum', []).files, ['-']);
    assert.deepEqual(fileArguments('sha256sum', ['-b', '--text']).files, ['-']);
    assert.deepEqual(fileArguments('sha256sum', ['-']).files, ['-']);
  });
  it('names in order; -b -t --binary --text ignored anywhere before --; after -- everything is a name', () => {
    assert.deepEqual(fileArguments('md5sum', ['a', 'b c', "it's"]).files, ['a', 'b c', "it's"]);
    assert.deepEqual(fileArguments('md5sum', ['-b', 'a', '-t', 'b', '--binary', '--text']), { files: ['a', 'b'], binary: false });
    assert.deepEqual(fileArguments('md5sum', ['-t', 'a', '-b']), { files: ['a'], binary: true }, 'the last of -b/-t wins, as in coreutils');
    assert.deepEqual(fileArguments('md5sum', ['--', '-c', '--', '-']).files, ['-c', '--', '-']);
    assert.deepEqual(fileArguments('md5sum', ['a', '-', 'b']).files, ['a', '-', 'b']);
  });
  it('any other option is refused with a message naming the command and the option', () => {
    for (const opt of ['-c', '--check', '--tag', '-z', '--zero', '-bt', '--status', '-w', '--help', '--version']) {
      assert.throws(() => fileArguments('sha256sum', ['a', opt]), new RegExp(`^Error: sha256sum: option '${opt.replace(/-/g, '\\-')}' is not supported$`), opt);
    }
  });
  it('sumLine: `<hex>  <name>` as coreutils prints it', () => {
    assert.equal(sumLine('abc123', 'a b.txt'), 'abc123  a b.txt\n');
    assert.equal(sumLine('abc123', "it's ✓"), "abc123  it's ✓\n");
    assert.equal(sumLine('abc123', '-'), 'abc123  -\n');
  });
  it('sumLine: a name with a backslash or newline is escaped and the line starts with a backslash', () => {
    assert.equal(sumLine('ff', 'a\\b'), '\\ff  a\\\\b\n');
    assert.equal(sumLine('ff', 'a\nb'), '\\ff  a\\nb\n');
    assert.equal(sumLine('ff', '\\\n\\'), '\\ff  \\\\\\n\\\\\n');
  });
  it('sumLine equals coreutils sha256sum output for names with a backslash or a newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-sumline-'));
    try {
      const names = ['plain', 'a\\b', 'new\nline', 'both\\\nx', 'sp ace'];
      for (const n of names) await writeFile(join(dir, n), n);
      const want = await runOut('sha256sum', ['--', ...names], { cwd: dir });
      const got = names.map((n) => sumLine(digestOf('sha256', Buffer.from(n)), n)).join('');
      assert.equal(got, want);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
