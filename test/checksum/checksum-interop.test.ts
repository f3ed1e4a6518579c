/**
 * Issue 6 (checksums and server-side copy) against the real server in process (defaultRouter),
 * with real clients: raw SFTP requests in WinSCP's check-file-name shape for every algorithm
 * compared with coreutils on the same file, algorithm choice, ranges and blocks, check-file-handle
 * and paramiko's legacy `check-file` (SFTPFile.check), a sparse file over 1 GiB hashed without the
 * server's memory growing, refusals (folders, FIFOs, paths outside the home); the exec commands
 * through OpenSSH ssh and an ssh2 exec channel compared byte for byte with coreutils run on the
 * same files; rclone copy + rclone check using md5 hashes; and copy-data through OpenSSH `sftp cp`
 * and raw requests, including its refusals and the quota (nothing stored beyond it, ledger = disk).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeCheckFileReply } from '../../src/sftp/packets/extended-reply.js';
import { type SftpReply } from '../../src/sftp/packets/packet.js';
import { CHECKSUM_ALGORITHMS, type ChecksumAlgorithm } from '../../src/vfs/checksum.js';
import { commonOptions, runIn } from '../support/openssh.js';
import { addQuotaUser, assertLive, assertSettled, diskBytes, homeOf, MiB, opensshSftp, paramiko, PASSWORD, startQuotaServer, type QuotaServer } from '../support/quota-helpers.js';
import { describe as show, expectStatus, handleOf, OpenFlags, RawSftp, StatusCode } from '../support/sftp-raw.js';
import { connect, run, type RunResult, type SshClient } from '../support/ssh-clients.js';

const { READ, WRITE, APPEND, CREAT, TRUNC } = OpenFlags;
/** 3 MiB + 777 bytes: crosses the server's 1 MiB reads; no block size used here divides it. */
const SIZE = 3 * MiB + 777;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ABC_SHA256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

type ExtendedReply = Extract<SftpReply, { kind: 'extended-reply' }>;

const digestOf = (alg: ChecksumAlgorithm, data: Buffer): string => createHash(alg).update(data).digest('hex');

/** Expected digests (hex, one per block) of a check-file range, computed with node:crypto. */
function expectedDigests(alg: ChecksumAlgorithm, data: Buffer, start: number, length: number, blockSize: number): string[] {
  const from = Math.min(start, data.length);
  const slice = data.subarray(from, length === 0 ? data.length : Math.min(data.length, start + length));
  if (blockSize === 0 || slice.length === 0) return [digestOf(alg, slice)];
  const out: string[] = [];
  for (let i = 0; i < slice.length; i += blockSize) out.push(digestOf(alg, slice.subarray(i, i + blockSize)));
  return out;
}

/** Splits a check-file reply's digests into hex strings of `bytes` each. */
function splitDigests(digests: Buffer, bytes: number): string[] {
  assert.equal(digests.length % bytes, 0, `reply digests (${digests.length} bytes) are whole ${bytes}-byte digests`);
  const out: string[] = [];
  for (let i = 0; i < digests.length; i += bytes) out.push(digests.subarray(i, i + bytes).toString('hex'));
  return out;
}

const DIGEST_LEN: Record<ChecksumAlgorithm, number> = { md5: 16, sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

/** Asserts an EXTENDED_REPLY to check-file: the algorithm and its digests as hex strings. */
function checkReply(r: SftpReply, what: string, legacy = false): { algorithm: string; digests: string[] } {
  assert.equal(r.kind, 'extended-reply', `${what}: expected EXTENDED_REPLY, got ${show(r)}`);
  const { algorithm, digests } = decodeCheckFileReply((r as ExtendedReply).data, legacy);
  assert.ok(algorithm in DIGEST_LEN, `${what}: algorithm ${algorithm}`);
  return { algorithm, digests: splitDigests(digests, DIGEST_LEN[algorithm as ChecksumAlgorithm]) };
}

/** What an exec channel did. */
interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Runs `command` on an ssh2 exec channel, with `input` on its stdin (then EOF). */
function exec(client: SshClient, command: string, input = ''): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, ch) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      ch.on('data', (d: Buffer) => (stdout += d.toString()));
      ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      ch.on('exit', (c: number | null) => (code = c));
      ch.on('close', () => resolve({ stdout, stderr, code }));
      ch.end(input);
    });
  });
}

/** Runs `command` with /bin/sh in `cwd` (coreutils on the same files), stdin from `input`. */
function local(cwd: string, command: string, input?: string): Promise<RunResult> {
  if (input === undefined) return runIn(cwd, 'sh', ['-c', command]);
  return run('sh', ['-c', `cd "$1" && ${command}`, 'sh', cwd], { input });
}

describe('checksums and copy-data against the real server', { timeout: 120_000 }, () => {
  let ts: QuotaServer;
  let home: string;
  let data: Buffer;
  let s: RawSftp;
  const sessions: RawSftp[] = [];
  const clients: SshClient[] = [];
  const host = (p: string) => join(home, p);
  const login = async (name = 'alice') => {
    const x = await RawSftp.connect(ts.port, { username: name, password: PASSWORD });
    sessions.push(x);
    return x;
  };
  const checkName = (path: string, algorithms: string[], start = 0, length = 0, blockSize = 0) =>
    s.request({ kind: 'check-file-name', path, algorithms, start, length, blockSize });

  before(async () => {
    ts = await startQuotaServer();
    home = await addQuotaUser(ts, 'alice', null);
    data = randomBytes(SIZE);
    await writeFile(host('data.bin'), data);
    await writeFile(host('empty'), '');
    await writeFile(host('small.txt'), 'abc');
    await mkdir(host('folder'));
    s = await login();
  });
  after(async () => {
    for (const x of sessions) x.client.end();
    for (const c of clients) c.end();
    await ts.close();
  });

  describe('check-file over SFTP', () => {
    it('VERSION advertises check-file and copy-data', async () => {
      const fresh = await RawSftp.connect(ts.port, { username: 'alice', password: PASSWORD }, false);
      sessions.push(fresh);
      const v = await fresh.init(3);
      const ext = new Map(v.extensions);
      assert.equal(ext.get('check-file'), '1');
      assert.equal(ext.get('copy-data'), '1');
    });

    it("WinSCP's shape (check-file-name, one algorithm, 0, 0, 0) for all 6 algorithms equals coreutils *sum", async () => {
      for (const file of ['data.bin', 'empty', 'small.txt']) {
        const replies = await Promise.all(CHECKSUM_ALGORITHMS.map((alg) => checkName(`/${file}`, [alg])));
        for (const [i, alg] of CHECKSUM_ALGORITHMS.entries()) {
          const r = checkReply(replies[i]!, `${alg} ${file}`);
          const coreutils = await runIn(home, `${alg}sum`, [file]);
          assert.equal(coreutils.code, 0, coreutils.stderr);
          assert.equal(r.algorithm, alg, `${file}: the algorithm asked for`);
          assert.deepEqual(r.digests, [coreutils.stdout.split(' ')[0]], `${alg}sum ${file}`);
        }
      }
    });

    it('the first supported algorithm of the list wins; names are matched in any case; relative paths work', async () => {
      const r = checkReply(await checkName('data.bin', ['crc32', 'sha256', 'md5']), 'crc32,sha256,md5');
      assert.equal(r.algorithm, 'sha256');
      assert.deepEqual(r.digests, [digestOf('sha256', data)]);
      const m = checkReply(await checkName('/data.bin', ['md5', 'sha512']), 'md5,sha512');
      assert.deepEqual([m.algorithm, m.digests], ['md5', [digestOf('md5', data)]]);
      const u = checkReply(await checkName('./folder/../data.bin', ['SHA1']), 'SHA1');
      assert.deepEqual([u.algorithm, u.digests], ['sha1', [digestOf('sha1', data)]]);
    });

    it('a list with no supported algorithm is refused (OP_UNSUPPORTED) and the session goes on', async () => {
      const r = await checkName('/data.bin', ['crc32', 'md4', 'sha-256']);
      const st = expectStatus(r, StatusCode.OP_UNSUPPORTED, 'crc32,md4,sha-256');
      assert.match(st.message, /No supported hash algorithm/);
      checkReply(await checkName('/small.txt', ['md5']), 'after the refusal');
    });

    it('start offsets and lengths (clamped at EOF; 0 = to the end) equal the digests of the same bytes', async () => {
      const cases: Array<[number, number]> = [
        [1, 0],
        [1000, 5000],
        [MiB - 1, MiB + 2],
        [SIZE - 10, 100], // past EOF: the 10 bytes that exist
        [SIZE, 0], // at EOF: the digest of nothing
        [SIZE + 1000, 50], // past EOF: the digest of nothing
        [0, SIZE],
      ];
      for (const alg of ['sha256', 'md5'] as const) {
        const replies = await Promise.all(cases.map(([start, length]) => checkName('/data.bin', [alg], start, length)));
        for (const [i, [start, length]] of cases.entries()) {
          assert.deepEqual(checkReply(replies[i]!, `${alg} ${start}+${length}`).digests, expectedDigests(alg, data, start, length, 0), `${alg} start ${start} length ${length}`);
        }
      }
      assert.deepEqual(checkReply(await checkName('/data.bin', ['sha256'], SIZE), 'at EOF').digests, [EMPTY_SHA256]);
    });

    it('a byte range agrees with coreutils sha256sum of the same bytes cut by dd', async () => {
      const dd = await runIn(home, 'sh', ['-c', 'dd if=data.bin bs=1000 skip=7 count=1234 status=none | sha256sum']);
      assert.equal(dd.code, 0, dd.stderr);
      assert.deepEqual(checkReply(await checkName('/data.bin', ['sha256'], 7000, 1_234_000), 'dd range').digests, [dd.stdout.split(' ')[0]]);
    });

    it('block sizes 256, 1000, 1 MiB: one digest per block, the last one partial', async () => {
      const cases: Array<[number, number, number]> = [
        [0, 0, 256],
        [0, 0, 1000],
        [0, 0, MiB],
        [100, 10_000, 256], // inside a range: 39 blocks + 16 bytes
        [0, 2048, 256], // exactly 8 blocks, no extra digest
        [SIZE - 1000, 0, MiB], // one partial block
      ];
      for (const [start, length, blockSize] of cases) {
        const alg = blockSize === 256 && length === 0 ? 'md5' : 'sha1';
        const r = checkReply(await checkName('/data.bin', [alg], start, length, blockSize), `${alg} ${start}+${length}/${blockSize}`);
        const want = expectedDigests(alg, data, start, length, blockSize);
        assert.equal(r.digests.length, want.length, `${start}+${length}/${blockSize}: digest count`);
        assert.deepEqual(r.digests, want, `${start}+${length}/${blockSize}`);
      }
      // The whole file in 1 MiB blocks: the last digest is coreutils' of the last 777 bytes.
      const tail = await runIn(home, 'sh', ['-c', `tail -c 777 data.bin | sha1sum`]);
      assert.equal(checkReply(await checkName('/data.bin', ['sha1'], 0, 0, MiB), 'tail').digests.at(-1), tail.stdout.split(' ')[0]);
    });

    it('an empty file with a block size answers one digest of nothing', async () => {
      assert.deepEqual(checkReply(await checkName('/empty', ['sha256'], 0, 0, 256), 'empty/256').digests, [EMPTY_SHA256]);
    });

    it('block sizes 1..255 are refused; a reply that would not fit one message is refused', async () => {
      for (const blockSize of [1, 255]) {
        const st = expectStatus(await checkName('/data.bin', ['md5'], 0, 0, blockSize), StatusCode.FAILURE, `block ${blockSize}`);
        assert.match(st.message, /at least 256/);
      }
      // sha512 in 256-byte blocks of 3 MiB: 12,292 x 64 bytes > one 256 KiB message.
      const st = expectStatus(await checkName('/data.bin', ['sha512'], 0, 0, 256), StatusCode.FAILURE, 'too many blocks');
      assert.match(st.message, /Too many blocks/);
    });

    it('check-file-handle on an open handle, and the legacy `check-file` request with its reply prefix', async () => {
      const h = await s.open('/data.bin', READ);
      try {
        const r = checkReply(await s.request({ kind: 'check-file-handle', handle: h, algorithms: ['sha384'], start: 0, length: 0, blockSize: 0, legacy: false }), 'check-file-handle');
        assert.deepEqual([r.algorithm, r.digests], ['sha384', [digestOf('sha384', data)]]);
        const ranged = checkReply(await s.request({ kind: 'check-file-handle', handle: h, algorithms: ['sha224'], start: 4321, length: 100_000, blockSize: 1000, legacy: false }), 'ranged');
        assert.deepEqual(ranged.digests, expectedDigests('sha224', data, 4321, 100_000, 1000));
        const legacy = await s.request({ kind: 'check-file-handle', handle: h, algorithms: ['sha256'], start: 0, length: 0, blockSize: 0, legacy: true });
        assert.equal(legacy.kind, 'extended-reply', show(legacy));
        const raw = (legacy as ExtendedReply).data;
        assert.equal(raw.readUInt32BE(0), 10);
        assert.equal(raw.subarray(4, 14).toString(), 'check-file', 'paramiko reads the string "check-file" first');
        assert.deepEqual(checkReply(legacy, 'legacy', true).digests, [digestOf('sha256', data)]);
        const dir = await s.opendir('/folder');
        expectStatus(await s.request({ kind: 'check-file-handle', handle: dir, algorithms: ['md5'], start: 0, length: 0, blockSize: 0, legacy: false }), StatusCode.FAILURE, 'a folder handle');
        await s.close(dir);
      } finally {
        await s.close(h);
      }
    });

    it("paramiko's SFTPFile.check (legacy check-file): whole file, offset/length and blocks equal hashlib", async () => {
      const path = host('data.bin');
      const r = await paramiko(
        ts,
        'alice',
        [
          'import hashlib, json',
          `d = open(${JSON.stringify(path)}, "rb").read()`,
          'def blocks(alg, b, n):',
          '    return b"".join(hashlib.new(alg, b[i:i + n]).digest() for i in range(0, len(b), n))',
          'with sftp.open("data.bin", "rb") as f:',
          '    got = [f.check("sha256", 0, 0, 0), f.check("md5", 1000, 5000, 0), f.check("sha1", 0, 0, 1000), f.check("sha512", 77, 300000, 65536)]',
          'want = [hashlib.sha256(d).digest(), hashlib.md5(d[1000:6000]).digest(), blocks("sha1", d, 1000), blocks("sha512", d[77:300077], 65536)]',
          'print(json.dumps({"got": [g.hex() for g in got], "want": [w.hex() for w in want]}))',
        ].join('\n'),
      );
      assert.equal(r.code, 0, r.stderr);
      const { got, want } = JSON.parse(r.stdout) as { got: string[]; want: string[] };
      assert.deepEqual(got, want);
      assert.equal(got[0], digestOf('sha256', data), 'and node agrees');
      assert.equal(got[2]!.length, Math.ceil(SIZE / 1000) * 40, 'one sha1 per 1000-byte block');
    });

    it('a sparse file over 1 GiB: paramiko sha256 equals sha256sum, server RSS grows < 50 MB', async (t) => {
      const BIG = 1024 * MiB + 12345;
      const path = host('big.sparse');
      const fh = await open(path, 'w');
      try {
        await fh.truncate(BIG);
        for (const [pos, text] of [[0, 'head'], [MiB - 2, 'across a read'], [512 * MiB, 'middle'], [1024 * MiB - 1, 'at 1 GiB'], [BIG - 3, 'end']] as const) {
          await fh.write(Buffer.from(text), 0, text.length, pos);
        }
      } finally {
        await fh.close();
      }
      assert.equal((await stat(path)).size, BIG);
      try {
        global.gc?.();
        const before = process.memoryUsage().rss;
        let peak = before;
        const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25);
        const [remote, coreutils] = await Promise.all([
          paramiko(ts, 'alice', 'with sftp.open("big.sparse", "rb") as f:\n    print(f.check("sha256", 0, 0, 0).hex())'),
          runIn(home, 'sha256sum', ['big.sparse']),
        ]).finally(() => clearInterval(sampler));
        peak = Math.max(peak, process.memoryUsage().rss);
        assert.equal(remote.code, 0, remote.stderr);
        assert.equal(coreutils.code, 0, coreutils.stderr);
        assert.equal(remote.stdout.trim(), coreutils.stdout.split(' ')[0], 'paramiko check = sha256sum');
        const grownMb = (peak - before) / MiB;
        t.diagnostic(`server RSS grew ${grownMb.toFixed(1)} MB while hashing ${BIG} bytes`);
        assert.ok(grownMb < 50, `RSS grew ${grownMb.toFixed(1)} MB while hashing 1 GiB (limit 50)`);
      } finally {
        await unlink(path);
      }
    });

    it('folders and FIFOs are refused with FAILURE, at once (no hang)', async () => {
      await runIn(home, 'mkfifo', ['fifo']);
      for (const path of ['/folder', '/', '.', '/fifo']) {
        expectStatus(await checkName(path, ['sha256']), StatusCode.FAILURE, `check-file-name ${path}`);
      }
      expectStatus(await checkName('/fifo', ['md5'], 0, 0, 256), StatusCode.FAILURE, 'FIFO with blocks');
      checkReply(await checkName('/small.txt', ['md5']), 'the session goes on');
    });

    it('missing paths and paths outside the home answer alike (NO_SUCH_FILE "No such file")', async () => {
      await symlink('/etc/passwd', host('escape'));
      try {
        const missing = expectStatus(await checkName('/nope', ['sha256']), StatusCode.NO_SUCH_FILE, 'missing');
        for (const path of ['/etc/passwd', '../../../../etc/passwd', '/../../etc/passwd', '/escape', 'folder/../../alice/small.txt', '/nope/deeper']) {
          const st = expectStatus(await checkName(path, ['sha256']), StatusCode.NO_SUCH_FILE, path);
          assert.equal(st.message, missing.message, `${path}: same message as a missing file`);
          assert.ok(!st.message.includes(home), 'no host path');
        }
      } finally {
        await unlink(host('escape'));
      }
    });
  });

  describe('exec md5sum, sha1sum, sha256sum, sha384sum, sha512sum', () => {
    /** Names with spaces, quotes, a backslash, unicode; and an empty file. */
    const ARGS = `a.txt 'b c.txt' 'it'\\''s.txt' "sub/x y.txt" uni\\ ✓.txt 'back\\slash' empty`;
    let client: SshClient;

    before(async () => {
      await mkdir(host('sub'), { recursive: true });
      for (const name of ['a.txt', 'b c.txt', "it's.txt", 'sub/x y.txt', 'uni ✓.txt', 'back\\slash', 'new\nline']) await writeFile(host(name), randomBytes(1000 + name.length));
      client = await connect(ts.port, { username: 'alice', password: PASSWORD });
      clients.push(client);
    });

    const sshArgs = () => [...commonOptions(ts.key), '-p', String(ts.port), 'alice@127.0.0.1'];

    it('OpenSSH ssh: every command prints what coreutils prints for the same files (quoted names, escapes)', async () => {
      const commands = ['md5sum', 'sha1sum', 'sha256sum', 'sha384sum', 'sha512sum'].map((c) => `${c} ${ARGS}`);
      const results = await Promise.all(commands.map((cmd) => Promise.all([run('ssh', [...sshArgs(), cmd]), local(home, cmd)])));
      for (const [i, [remote, coreutils]] of results.entries()) {
        assert.equal(coreutils.code, 0, coreutils.stderr);
        assert.deepEqual({ code: remote.code, stdout: remote.stdout, stderr: remote.stderr }, { code: 0, stdout: coreutils.stdout, stderr: '' }, commands[i]);
        assert.equal(remote.stdout.split('\n').length, 8, '7 lines');
      }
      assert.match(results[2]![0].stdout, /^\\[0-9a-f]{64} {2}back\\\\slash$/m, 'a backslash name is escaped as coreutils does');
    });

    it("rclone's quoting (`sha1sum '/dir/it'\\''s.txt'`) and absolute paths (the home is /)", async () => {
      const r = await exec(client, `sha1sum '/it'\\''s.txt' /sub/x\\ y.txt`);
      const want = `${digestOf('sha1', await readFile(host("it's.txt")))}  /it's.txt\n${digestOf('sha1', await readFile(host('sub/x y.txt')))}  /sub/x y.txt\n`;
      assert.deepEqual(r, { stdout: want, stderr: '', code: 0 });
    });

    it('a missing file: coreutils message on stderr, exit 1, the other files still printed (exactly as coreutils)', async () => {
      const cmd = `sha256sum a.txt missing.txt 'b c.txt' gone`;
      const [remote, coreutils] = await Promise.all([exec(client, cmd), local(home, cmd)]);
      assert.equal(remote.stderr, 'sha256sum: missing.txt: No such file or directory\nsha256sum: gone: No such file or directory\n');
      assert.equal(remote.code, 1);
      assert.equal(remote.stdout.split('\n').length, 3, 'a.txt and b c.txt printed');
      assert.deepEqual(remote, { stdout: coreutils.stdout, stderr: coreutils.stderr, code: coreutils.code });
    });

    it(
      "error messages quote awkward names as coreutils does (sha256sum: 'no such': ...)",
      async () => {
        const cmd = `sha256sum 'no such' 'it'\\''s gone' 'b c.txt'`;
        const [remote, coreutils] = await Promise.all([exec(client, cmd), local(home, cmd)]);
        assert.deepEqual(remote, { stdout: coreutils.stdout, stderr: coreutils.stderr, code: coreutils.code });
      },
    );

    it('a directory: `Is a directory`, exit 1, as coreutils', async () => {
      const cmd = 'sha512sum sub a.txt';
      const [remote, coreutils] = await Promise.all([exec(client, cmd), local(home, cmd)]);
      assert.equal(remote.stderr, 'sha512sum: sub: Is a directory\n');
      assert.deepEqual(remote, { stdout: coreutils.stdout, stderr: coreutils.stderr, code: coreutils.code });
      assert.equal(remote.code, 1);
    });

    it('no argument, or `-`, hashes standard input as coreutils does', async () => {
      const cases: Array<[string, string]> = [
        ['sha256sum', ''],
        ['sha256sum', 'abc'],
        ['sha256sum -', 'abc'],
        ['md5sum', ''],
        ['sha384sum -- -', 'x'.repeat(100_000)],
        ['sha512sum - a.txt', 'stdin then a file'],
      ];
      for (const [cmd, input] of cases) {
        const [remote, coreutils] = await Promise.all([exec(client, cmd, input), local(home, cmd, input)]);
        assert.equal(coreutils.code, 0, coreutils.stderr);
        assert.deepEqual(remote, { stdout: coreutils.stdout, stderr: '', code: 0 }, `${cmd} <<< ${JSON.stringify(input.slice(0, 20))}`);
      }
      assert.deepEqual(await exec(client, 'sha256sum'), { stdout: `${EMPTY_SHA256}  -\n`, stderr: '', code: 0 });
      assert.deepEqual(await exec(client, 'sha256sum -', 'abc'), { stdout: `${ABC_SHA256}  -\n`, stderr: '', code: 0 });
    });

    it(
      '-b (--binary) prints the name after `*` as coreutils does',
      async () => {
        for (const cmd of ['sha1sum -b', 'md5sum --binary a.txt', 'sha256sum -b -t a.txt']) {
          const [remote, coreutils] = await Promise.all([exec(client, cmd, 'abc'), local(home, cmd, 'abc')]);
          assert.deepEqual(remote, { stdout: coreutils.stdout, stderr: coreutils.stderr, code: coreutils.code }, cmd);
        }
      },
    );

    it('a name with a control character (a newline) answers like a missing file, as over SFTP', async () => {
      // Coffer refuses control characters in names (virtual-path.ts), so such a file is never served.
      const r = await exec(client, `sha256sum a.txt 'new\nline'`);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, `${digestOf('sha256', await readFile(host('a.txt')))}  a.txt\n`);
      assert.equal(r.stderr, "sha256sum: 'new'$'\\n''line': No such file or directory\n", 'quoted as coreutils does');
    });

    it('unsupported options and shell syntax are refused: exit 1, one line on stderr, nothing run', async () => {
      for (const cmd of ['sha256sum -c a.txt', 'sha256sum --check a.txt', 'sha256sum $(ls)', 'sha256sum `id`', 'sha256sum a.txt; rm a.txt', 'sha256sum a.txt && rm a.txt', 'sha256sum a.txt | cat', 'sha256sum *.txt', 'sha256sum a.txt > out', 'sha256sum "$HOME"', "sha256sum 'unterminated"]) {
        const r = await exec(client, cmd);
        assert.equal(r.code, 1, `${cmd}: exit 1`);
        assert.equal(r.stdout, '', `${cmd}: nothing hashed`);
        assert.match(r.stderr, /^sha256sum: [^\n]+\n$/, `${cmd}: one line on stderr`);
      }
      assert.match((await exec(client, 'sha256sum -c a.txt')).stderr, /option '-c' is not supported/);
      assert.ok((await stat(host('a.txt'))).isFile(), 'a.txt still there');
      await assert.rejects(stat(host('out')), { code: 'ENOENT' });
    });

    it('paths outside the home (and links out of it) answer like missing files', async () => {
      await symlink('/etc/passwd', host('escape'));
      try {
        const r = await exec(client, 'sha256sum /etc/passwd ../../../etc/passwd escape missing');
        assert.equal(r.code, 1);
        assert.equal(r.stdout, '');
        assert.equal(
          r.stderr,
          ['/etc/passwd', '../../../etc/passwd', 'escape', 'missing'].map((n) => `sha256sum: ${n}: No such file or directory\n`).join(''),
        );
      } finally {
        await unlink(host('escape'));
      }
    });

    it('a FIFO is refused at once (exit 1), never read', async () => {
      await runIn(home, 'mkfifo', ['exec-fifo']);
      const r = await exec(client, 'sha1sum exec-fifo a.txt');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^sha1sum: exec-fifo: [^\n]+\n$/);
      assert.equal(r.stdout, `${digestOf('sha1', await readFile(host('a.txt')))}  a.txt\n`);
    });
  });

  describe('rclone', () => {
    it('rclone copy, then rclone check compares md5 hashes through exec md5sum: 0 differences, then 1', async () => {
      const src = join(ts.scratch, 'rclone-src');
      await mkdir(join(src, 'n1', 'n2', 'n3'), { recursive: true });
      await mkdir(join(src, 'space dir'));
      const files: Record<string, Buffer> = {
        'top.txt': randomBytes(1000),
        'empty.txt': Buffer.alloc(0),
        "it's a test.txt": randomBytes(5000),
        'n1/mid.txt': randomBytes(77),
        'n1/n2/n3/deep.bin': randomBytes(300_000),
        'space dir/file one.txt': randomBytes(10),
      };
      for (const [name, content] of Object.entries(files)) await writeFile(join(src, name), content);
      const env = {
        ...process.env,
        RCLONE_CONFIG: '/dev/null',
        RCLONE_CONFIG_COFFER_TYPE: 'sftp',
        RCLONE_CONFIG_COFFER_HOST: '127.0.0.1',
        RCLONE_CONFIG_COFFER_PORT: String(ts.port),
        RCLONE_CONFIG_COFFER_USER: 'alice',
        RCLONE_CONFIG_COFFER_KEY_FILE: ts.key.privatePath,
      };
      const rclone = (...args: string[]) => run('rclone', args, { env, timeoutMs: 30_000 });
      const copied = await rclone('copy', src, 'coffer:rclone-dst');
      assert.equal(copied.code, 0, copied.stderr);
      for (const [name, content] of Object.entries(files)) assert.deepEqual(await readFile(host(join('rclone-dst', name))), content, name);

      const same = await rclone('check', src, 'coffer:rclone-dst', '-vv');
      assert.equal(same.code, 0, same.stderr);
      assert.match(same.stderr, /Hash command accepted/, 'rclone detected md5sum/sha1sum on Coffer');
      assert.match(same.stderr, /Using md5 for hash comparisons/);
      assert.doesNotMatch(same.stderr, /No common hash found|not using a hash/i, 'hashes were used');
      const md5 = createHash('md5').update(files["it's a test.txt"]!).digest('hex');
      assert.match(same.stderr, new RegExp(`Remote command result: ${md5}  /rclone-dst/it's a test\\.txt`), "md5sum of it's a test.txt ran on Coffer");
      assert.match(same.stderr, /0 differences found/);
      assert.match(same.stderr, new RegExp(`${Object.keys(files).length} matching files`));

      // Same size, same mtime, one byte different: only a hash comparison can see it.
      const name = "it's a test.txt";
      const before = await stat(join(src, name));
      const changed = Buffer.from(files[name]!);
      changed[2500] ^= 0xff;
      await writeFile(join(src, name), changed);
      await utimes(join(src, name), before.atime, before.mtime);
      const differ = await rclone('check', src, 'coffer:rclone-dst', '-vv');
      assert.notEqual(differ.code, 0, 'rclone check fails');
      assert.match(differ.stderr, /1 differences found/, differ.stderr);
      assert.match(differ.stderr, /it's a test\.txt/, 'the changed file is named');
    });
  });

  describe('copy-data', () => {
    let src: Buffer;

    before(async () => {
      src = randomBytes(5000);
      await writeFile(host('cd-src'), src);
    });

    it('OpenSSH `sftp cp` copies byte for byte', async () => {
      const content = randomBytes(MiB + 5);
      await writeFile(host('cp-src.bin'), content);
      const r = await opensshSftp(ts, 'alice', ['cp cp-src.bin cp-dst.bin', 'cp cp-src.bin sub/cp-copy.bin']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await readFile(host('cp-dst.bin')), content);
      assert.deepEqual(await readFile(host('sub/cp-copy.bin')), content);
    });

    it('raw copy-data: read offset and length, write offset; read length 0 = to EOF; past EOF copies what exists', async () => {
      await writeFile(host('cd-dst'), Buffer.alloc(200, 'x'));
      const r = await s.open('/cd-src', READ);
      const w = await s.open('/cd-dst', READ | WRITE);
      const copy = (readOffset: number, readLength: number, writeOffset: number, writeHandle = w) =>
        s.request({ kind: 'copy-data', readHandle: r, readOffset, readLength, writeHandle, writeOffset });
      try {
        expectStatus(await copy(100, 1000, 50), StatusCode.OK, 'copy 100+1000 to 50');
        const want = Buffer.concat([Buffer.alloc(50, 'x'), src.subarray(100, 1100)]);
        assert.deepEqual(await readFile(host('cd-dst')), want);

        const w2 = handleOf(await s.request({ kind: 'open', path: '/cd-tail', pflags: WRITE | CREAT | TRUNC, attrs: {} }), 'open cd-tail');
        expectStatus(await copy(4000, 0, 0, w2), StatusCode.OK, 'read length 0');
        expectStatus(await copy(4990, 1000, 1000, w2), StatusCode.OK, 'read length past EOF');
        expectStatus(await copy(6000, 0, 5000, w2), StatusCode.OK, 'read offset past EOF: nothing to copy');
        await s.close(w2);
        assert.deepEqual(await readFile(host('cd-tail')), Buffer.concat([src.subarray(4000), src.subarray(4990)]));

        const w3 = await s.open('/cd-hole', WRITE | CREAT | TRUNC);
        expectStatus(await copy(0, 10, 100, w3), StatusCode.OK, 'write offset past the end');
        await s.close(w3);
        assert.deepEqual(await readFile(host('cd-hole')), Buffer.concat([Buffer.alloc(100), src.subarray(0, 10)]), 'a zero-filled gap, then the bytes');
      } finally {
        await s.close(r);
        await s.close(w);
      }
    });

    it('refused: the same handle, two handles on one file, a hard link to it, a read-only destination, a folder handle', async () => {
      const before = await readFile(host('cd-src'));
      const rw = await s.open('/cd-src', READ | WRITE);
      const rw2 = await s.open('/cd-src', READ | WRITE);
      await link(host('cd-src'), host('cd-hard'));
      const hard = await s.open('/cd-hard', WRITE);
      await writeFile(host('cd-ro'), 'read only');
      const ro = await s.open('/cd-ro', READ);
      const dir = await s.opendir('/folder');
      const copy = (readHandle: Buffer, writeHandle: Buffer, writeOffset = 10) =>
        s.request({ kind: 'copy-data', readHandle, readOffset: 0, readLength: 0, writeHandle, writeOffset });
      try {
        expectStatus(await copy(rw, rw), StatusCode.FAILURE, 'same handle');
        expectStatus(await copy(rw, rw2), StatusCode.FAILURE, 'same file, two handles');
        expectStatus(await copy(rw, hard), StatusCode.FAILURE, 'same inode through a hard link');
        expectStatus(await copy(rw, ro), StatusCode.PERMISSION_DENIED, 'read-only destination');
        expectStatus(await copy(dir, rw2), StatusCode.FAILURE, 'folder as source');
        expectStatus(await copy(rw, dir), StatusCode.FAILURE, 'folder as destination');
        expectStatus(await copy(Buffer.from('nope'), rw2), StatusCode.FAILURE, 'unknown source handle');
      } finally {
        for (const h of [rw, rw2, hard, ro]) await s.close(h);
        await s.close(dir);
      }
      assert.deepEqual(await readFile(host('cd-src')), before, 'source unchanged');
      assert.equal(await readFile(host('cd-ro'), 'utf8'), 'read only', 'read-only file unchanged');
    });

    it('over quota: refused with FAILURE "Quota exceeded", nothing beyond the quota stored, ledger = disk', async () => {
      const QUOTA = 10_000;
      const chome = await addQuotaUser(ts, 'carol', QUOTA);
      const c = await login('carol');
      const a = randomBytes(6000);
      const put = async (path: string, content: Buffer) => {
        const h = await c.open(path, WRITE | CREAT | TRUNC);
        await c.write(h, 0, content);
        await c.close(h);
      };
      await put('/a', a);
      const third = randomBytes(3000);
      await put('/c', third);
      await assertLive(ts, 'carol', 9000);

      const ra = await c.open('/a', READ);
      const wb = await c.open('/b', WRITE | CREAT | TRUNC);
      const wc = await c.open('/c', READ | WRITE);
      const copy = (readOffset: number, readLength: number, writeHandle: Buffer, writeOffset: number) =>
        c.request({ kind: 'copy-data', readHandle: ra, readOffset, readLength, writeHandle, writeOffset });
      const quotaRefusal = (r: SftpReply, what: string) => assert.equal(expectStatus(r, StatusCode.FAILURE, what).message, 'Quota exceeded', what);
      try {
        quotaRefusal(await copy(0, 0, wb, 0), 'a whole copy of a (6000 more)');
        quotaRefusal(await copy(0, 2000, wc, 2500), 'c grows by 1500');
        await assertLive(ts, 'carol', 9000);
        assert.equal((await stat(join(chome, 'b'))).size, 0, 'nothing written to b');
        assert.deepEqual(await readFile(join(chome, 'c')), third, 'c unchanged');

        expectStatus(await copy(0, 1000, wc, 3000), StatusCode.OK, 'exactly up to the quota');
        quotaRefusal(await copy(0, 1, wc, 4000), 'one byte more');
        expectStatus(await copy(1000, 500, wc, 0), StatusCode.OK, 'overwriting inside c needs no quota');
        await assertLive(ts, 'carol', QUOTA);
      } finally {
        for (const h of [ra, wb, wc]) await c.close(h);
      }
      await c.end();
      c.client.end();
      await assertSettled(ts, 'carol', QUOTA);
      assert.deepEqual(await readFile(join(chome, 'c')), Buffer.concat([a.subarray(1000, 1500), third.subarray(500), a.subarray(0, 1000)]));
      assert.ok((await diskBytes(chome)) <= QUOTA);
    });

    it(
      'a copy-data that fails after its reservation (write-only source) leaves the ledger equal to the disk',
      async () => {
        await addQuotaUser(ts, 'dave', 100_000);
        const d = await login('dave');
        const h = await d.open('/src', WRITE | CREAT | TRUNC);
        await d.write(h, 0, randomBytes(5000));
        const w = await d.open('/dst', WRITE | CREAT | TRUNC);
        const r = await d.request({ kind: 'copy-data', readHandle: h, readOffset: 0, readLength: 0, writeHandle: w, writeOffset: 0 });
        assert.equal(r.kind, 'status', 'refused');
        assert.notEqual((r as Extract<SftpReply, { kind: 'status' }>).code, StatusCode.OK, 'a write-only source cannot be read');
        await d.close(h);
        await d.close(w);
        await assertLive(ts, 'dave', 5000); // handles closed, session still open
        await d.end();
        d.client.end();
        await assertSettled(ts, 'dave', 5000);
      },
    );

    it(
      'copy-data into an APPEND handle charges the quota with what was really appended',
      async () => {
        await addQuotaUser(ts, 'erin', 100_000);
        const e = await login('erin');
        const put = await e.open('/src', WRITE | CREAT | TRUNC);
        await e.write(put, 0, randomBytes(3000));
        await e.close(put);
        const pre = await e.open('/dst', WRITE | CREAT | TRUNC);
        await e.write(pre, 0, randomBytes(100));
        await e.close(pre);
        const r = await e.open('/src', READ);
        const w = await e.open('/dst', WRITE | APPEND);
        expectStatus(await e.request({ kind: 'copy-data', readHandle: r, readOffset: 0, readLength: 0, writeHandle: w, writeOffset: 0 }), StatusCode.OK, 'copy into an append handle');
        await e.close(r);
        await e.close(w);
        assert.equal((await stat(join(homeOf(ts, 'erin'), 'dst'))).size, 3100, 'appended at the end');
        await assertLive(ts, 'erin', 6100);
        await e.end();
        e.client.end();
        await assertSettled(ts, 'erin', 6100);
      },
    );
  });
});
