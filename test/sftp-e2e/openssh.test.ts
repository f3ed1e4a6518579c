/**
 * OpenSSH 9.2's own clients against the real in-process server: `sftp -b` (ls, cd, mkdir, put,
 * get, reput, reget, rename, rm, rmdir, chmod, ln, df) and modern `scp`, which speaks SFTP. Files
 * are compared byte for byte on both sides; `df` must show the quota.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultRouter } from '../../src/server/routes.js';
import { scp, sftpBatch, type OpenSshTarget } from '../support/openssh.js';
import { makeClientKey } from '../support/ssh-clients.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const QUOTA = 64 * 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('OpenSSH sftp and scp against the server', () => {
  let ts: TestServer;
  let local: string;
  let home: string;
  let target: OpenSshTarget;
  let big: Buffer;
  const batch = async (lines: string[], expectCode = 0) => {
    const r = await sftpBatch(target, lines);
    assert.equal(r.code, expectCode, `sftp exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    return r;
  };
  const l = (p: string) => join(local, p);
  const h = (p: string) => join(home, p);

  before(async () => {
    ts = await startTestServer({ router: defaultRouter(), settings: { maxSessionsPerUser: 50 } });
    local = await mkdtemp(join(tmpdir(), 'coffer-openssh-'));
    const key = await makeClientKey(local, 'id_ed25519');
    await ts.addUser('alice', { keys: [key.publicLine], quota: QUOTA });
    home = join(ts.root, 'homes', 'alice');
    target = { port: ts.port, user: 'alice', key, cwd: local };
    big = randomBytes(3 * 1024 * 1024 + 12345);
    await writeFile(l('big.bin'), big);
    await writeFile(l('small.txt'), 'small file\n');
  });
  after(async () => {
    await ts.close();
    await rm(local, { recursive: true, force: true });
  });

  it('sftp -b: pwd, mkdir, cd, put, ls -l, get, rename, rm, rmdir', async () => {
    const r = await batch([
      'pwd',
      'mkdir d',
      'cd d',
      'put small.txt',
      'put big.bin',
      'ls -l',
      'get big.bin back.bin',
      'rename small.txt renamed.txt',
      'ls',
      'pwd',
    ]);
    assert.match(r.stdout, /Remote working directory: \/\n/);
    assert.match(r.stdout, /Remote working directory: \/d\n/);
    assert.match(r.stdout, new RegExp(`-rw-r--r-- +1 alice +alice +${big.length} .* big\\.bin`));
    assert.equal(sha(await readFile(h('d/big.bin'))), sha(big));
    assert.equal(sha(await readFile(l('back.bin'))), sha(big));
    assert.equal(await readFile(h('d/renamed.txt'), 'utf8'), 'small file\n');
    await assert.rejects(stat(h('d/small.txt')), { code: 'ENOENT' });
    const upload = ts.logs.events('transfer', { direction: 'upload', path: '/d/big.bin' });
    assert.equal(upload.at(-1)?.bytes, big.length, 'the upload is logged with its size');
    const down = ts.logs.events('transfer', { direction: 'download', path: '/d/big.bin' });
    assert.equal(down.at(-1)?.bytes, big.length, 'the download is logged with its size');

    const fails = await batch(['rmdir d'], 1);
    assert.match(fails.stderr, /rmdir.*Failure|Directory not empty|Failure/i);
    await batch(['rm d/renamed.txt', 'rm d/big.bin', 'rmdir d', 'ls']);
    await assert.rejects(stat(h('d')), { code: 'ENOENT' });
    await rm(l('back.bin'));
  });

  it('sftp -b stops at the first failing command', async () => {
    const r = await batch(['get does-not-exist.txt', 'put small.txt after-failure.txt'], 1);
    assert.match(r.stderr, /not found/);
    await assert.rejects(stat(h('after-failure.txt')), { code: 'ENOENT' });
  });

  it('df shows the quota as the filesystem: size, used and available', async () => {
    await writeFile(h('df.bin'), Buffer.alloc(2 * 1024 * 1024));
    // Upload through the server so the quota sees the bytes.
    await batch(['put big.bin df-big.bin']);
    const r = await batch(['df']);
    const m = /\n\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const [size, used, avail] = [Number(m[1]), Number(m[2]), Number(m[3])];
    assert.equal(size, QUOTA / 1024, 'Size is the quota in KiB');
    assert.ok(used >= Math.floor(big.length / 1024) && used <= (QUOTA - avail * 1024) / 1024 + 1, `Used ${used} KiB`);
    assert.equal(size - used, avail, 'Avail = Size - Used');
    const hr = await batch(['df -h']);
    assert.match(hr.stdout, /64\.0MiB|64MiB|64\.0M/);
    await batch(['rm df-big.bin']);
    await rm(h('df.bin'));
  });

  it('reput resumes uploads (OpenSSH opens with APPEND) at sizes 0, 1, 1000, size-1 and same', async () => {
    const sizes = [0, 1, 1000, big.length - 1, big.length];
    for (const n of sizes) await writeFile(h(`reput-${n}.bin`), big.subarray(0, n));
    const r = await sftpBatch(target, sizes.map((n) => `-reput big.bin reput-${n}.bin`));
    assert.equal(r.code, 0, r.stderr);
    for (const n of sizes) assert.equal(sha(await readFile(h(`reput-${n}.bin`))), sha(big), `reput from ${n} bytes`);
    // A remote file larger than the local one is not resumed (and not damaged).
    await writeFile(h('reput-bigger.bin'), Buffer.concat([big, Buffer.from('extra')]));
    await batch(['-reput big.bin reput-bigger.bin']);
    assert.equal((await stat(h('reput-bigger.bin'))).size, big.length + 5);
    for (const n of sizes) await rm(h(`reput-${n}.bin`));
    await rm(h('reput-bigger.bin'));
  });

  it('reget resumes downloads at sizes 0, 1, 1000, size-1 and same', async () => {
    await writeFile(h('reget.bin'), big);
    const sizes = [0, 1, 1000, big.length - 1, big.length];
    for (const n of sizes) await writeFile(l(`reget-${n}.bin`), big.subarray(0, n));
    const r = await sftpBatch(target, sizes.map((n) => `-reget reget.bin reget-${n}.bin`));
    assert.equal(r.code, 0, r.stderr);
    for (const n of sizes) assert.equal(sha(await readFile(l(`reget-${n}.bin`))), sha(big), `reget from ${n} bytes`);
    for (const n of sizes) await rm(l(`reget-${n}.bin`));
  });

  it('chmod keeps only the 0777 bits, chown is refused, ln -s is refused while symlinks are off, ls -l longnames', async () => {
    await batch(['put small.txt modes.txt', 'chmod 4755 modes.txt', 'ls -l modes.txt']);
    assert.equal((await stat(h('modes.txt'))).mode & 0o7777, 0o755);
    const r = await sftpBatch(target, ['-chown 1234 modes.txt', '-chgrp 1234 modes.txt', '-ln -s modes.txt link.txt', '-ln modes.txt hard.txt', 'ls -l modes.txt']);
    assert.equal(r.code, 0, r.stderr);
    // A single file is STATed and formatted by the client itself (no longname).
    assert.match(r.stdout, /-rwxr-xr-x .* 11 .* modes\.txt/);
    assert.match(r.stderr, /setstat .*(Permission denied|Failure)/i);
    assert.match(r.stderr, /symlink .*(Permission denied|Failure|unsupported)/i);
    assert.deepEqual((await readdir(home)).filter((n) => n === 'link.txt' || n === 'hard.txt'), []);
    const st = await stat(h('modes.txt'));
    assert.notEqual(st.uid, 1234);
    assert.notEqual(st.gid, 1234);
    await rm(h('modes.txt'));
  });

  it('modern scp (SFTP protocol): a file up and down, and -r trees both ways', async () => {
    const before = ts.logs.events('subsystem').length;
    let r = await scp(target, ['big.bin', '@:scp-up.bin']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha(await readFile(h('scp-up.bin'))), sha(big));
    r = await scp(target, ['@:scp-up.bin', 'scp-down.bin']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha(await readFile(l('scp-down.bin'))), sha(big));

    await mkdir(l('tree/a/b'), { recursive: true });
    await writeFile(l('tree/top.txt'), 'top');
    await writeFile(l('tree/a/mid.txt'), 'mid');
    await writeFile(l('tree/a/b/deep.bin'), big.subarray(0, 100_000));
    await mkdir(l('tree/empty'));
    r = await scp(target, ['-r', 'tree', '@:']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(h('tree/a/mid.txt'), 'utf8'), 'mid');
    assert.equal(sha(await readFile(h('tree/a/b/deep.bin'))), sha(big.subarray(0, 100_000)));
    assert.ok((await stat(h('tree/empty'))).isDirectory());
    r = await scp(target, ['-r', '@:tree', 'tree-back']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(l('tree-back/top.txt'), 'utf8'), 'top');
    assert.equal(sha(await readFile(l('tree-back/a/b/deep.bin'))), sha(big.subarray(0, 100_000)));
    // scp of a missing file fails with a message, and "../" stays in the home.
    r = await scp(target, ['@:nothere.bin', 'x.bin']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /No such file|not found/);
    r = await scp(target, ['small.txt', '@:../../scp-escape.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(h('scp-escape.txt'), 'utf8'), 'small file\n');
    await assert.rejects(stat(join(ts.root, 'scp-escape.txt')), { code: 'ENOENT' });
    const sftpSessions = ts.logs.events('subsystem').slice(before).filter((e) => e.subsystem === 'sftp');
    assert.ok(sftpSessions.length >= 6, `scp spoke SFTP (${sftpSessions.length} subsystem sessions)`);
  });
});
