/**
 * Other real clients against the in-process server: curl's sftp:// (libssh2 1.10: upload, download,
 * listing, resume both ways, append, quote commands) and ssh2-sftp-client (the library the coffer
 * client builds on: put/get, fastPut/fastGet, append, streams, mkdir -p, rmdir -r, rename vs
 * posixRename, chmod, uploadDir/downloadDir, and ssh2's extension calls that only work when the
 * VERSION reply advertised them).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SFTPWrapper } from 'ssh2';
import { defaultRouter } from '../../src/server/routes.js';
import { runIn } from '../support/openssh.js';
import { makeClientKey, type ClientKey } from '../support/ssh-clients.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const PW = 'clients-pw-17';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The part of ssh2-sftp-client 12 used here (the package ships no types). */
interface SftpClient {
  sftp: SFTPWrapper;
  connect(config: Record<string, unknown>): Promise<unknown>;
  end(): Promise<unknown>;
  cwd(): Promise<string>;
  realPath(p: string): Promise<string>;
  list(p: string): Promise<Array<{ name: string; type: string; size: number }>>;
  exists(p: string): Promise<false | string>;
  stat(p: string): Promise<{ mode: number; size: number; isFile: boolean; isDirectory: boolean }>;
  mkdir(p: string, recursive?: boolean): Promise<string>;
  rmdir(p: string, recursive?: boolean): Promise<string>;
  delete(p: string, notFoundOK?: boolean): Promise<string>;
  rename(from: string, to: string): Promise<string>;
  posixRename(from: string, to: string): Promise<string>;
  chmod(p: string, mode: number): Promise<string>;
  put(src: Buffer | string | NodeJS.ReadableStream, dst: string): Promise<string>;
  get(src: string, dst?: string): Promise<Buffer | string>;
  fastPut(local: string, remote: string, opts?: Record<string, unknown>): Promise<string>;
  fastGet(remote: string, local: string, opts?: Record<string, unknown>): Promise<string>;
  append(input: Buffer, remote: string): Promise<string>;
  uploadDir(src: string, dst: string): Promise<string>;
  downloadDir(src: string, dst: string): Promise<string>;
  createReadStream(p: string): NodeJS.ReadableStream;
}
const SftpClientClass = createRequire(import.meta.url)('ssh2-sftp-client') as new () => SftpClient;

describe('curl (libssh2) and ssh2-sftp-client against the server', () => {
  let ts: TestServer;
  let local: string;
  let home: string;
  let key: ClientKey;
  let big: Buffer;
  const l = (p: string) => join(local, p);
  const h = (p: string) => join(home, p);

  before(async () => {
    ts = await startTestServer({ router: defaultRouter(), settings: { maxSessionsPerUser: 50 } });
    local = await mkdtemp(join(tmpdir(), 'coffer-clients-'));
    key = await makeClientKey(local, 'id_ed25519');
    await ts.addUser('alice', { password: PW, keys: [key.publicLine] });
    home = join(ts.root, 'homes', 'alice');
    big = randomBytes(2 * 1024 * 1024 + 777);
    await writeFile(l('big.bin'), big);
  });
  after(async () => {
    await ts.close();
    await rm(local, { recursive: true, force: true });
  });

  describe("curl's sftp://", () => {
    const url = (p: string) => `sftp://127.0.0.1:${ts.port}${p}`;
    const curl = (args: string[]) => runIn(local, 'curl', ['-sS', '-k', '-u', 'alice:', '--key', key.privatePath, '--pubkey', key.publicPath, ...args]);
    const ok = async (args: string[]) => {
      const r = await curl(args);
      assert.equal(r.code, 0, `curl ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
      return r;
    };

    it('uploads (creating folders), downloads and lists', async () => {
      await ok(['--ftp-create-dirs', '-T', 'big.bin', url('/c/d/up.bin')]);
      assert.equal(sha(await readFile(h('c/d/up.bin'))), sha(big));
      await ok(['-o', 'down.bin', url('/c/d/up.bin')]);
      assert.equal(sha(await readFile(l('down.bin'))), sha(big));
      const long = await ok([url('/c/d/')]);
      assert.match(long.stdout, new RegExp(`-rw-r--r-- +1 alice +alice +${big.length} .* up\\.bin`));
      const names = await ok(['-l', url('/c/')]);
      assert.deepEqual(names.stdout.split('\n').filter((n) => n && n !== '.' && n !== '..'), ['d']);
      // A password works as well as a key.
      const pw = await runIn(local, 'curl', ['-sS', '-k', '-u', `alice:${PW}`, '-o', 'down-pw.bin', url('/c/d/up.bin')]);
      assert.equal(pw.code, 0, pw.stderr);
      assert.equal(sha(await readFile(l('down-pw.bin'))), sha(big));
    });

    it('resumes an upload (-C - -T) and a download (-C - -o), and appends (--append)', async () => {
      await writeFile(h('resume-up.bin'), big.subarray(0, 1_000_001));
      await ok(['-C', '-', '-T', 'big.bin', url('/resume-up.bin')]);
      assert.equal(sha(await readFile(h('resume-up.bin'))), sha(big));
      await writeFile(h('resume-down.bin'), big);
      await writeFile(l('resume-down.bin'), big.subarray(0, 123_457));
      await ok(['-C', '-', '-o', 'resume-down.bin', url('/resume-down.bin')]);
      assert.equal(sha(await readFile(l('resume-down.bin'))), sha(big));
      await writeFile(h('log.txt'), 'one\n');
      await writeFile(l('more.txt'), 'two\n');
      await ok(['--append', '-T', 'more.txt', url('/log.txt')]);
      await ok(['--append', '-T', 'more.txt', url('/log.txt')]);
      assert.equal(await readFile(h('log.txt'), 'utf8'), 'one\ntwo\ntwo\n');
    });

    it('quote commands: mkdir, rename (no overwrite), chmod (masked), rm, rmdir; ln is refused', async () => {
      await writeFile(h('q-a.txt'), 'A');
      await writeFile(h('q-b.txt'), 'B');
      await ok(['-Q', 'mkdir /q-dir', '-Q', 'rename /q-a.txt /q-dir/q-a.txt', '-Q', 'chmod 4755 /q-dir/q-a.txt', url('/')]);
      assert.equal(await readFile(h('q-dir/q-a.txt'), 'utf8'), 'A');
      assert.equal((await stat(h('q-dir/q-a.txt'))).mode & 0o7777, 0o755);
      const clobber = await curl(['-Q', 'rename /q-b.txt /q-dir/q-a.txt', url('/')]);
      assert.equal(clobber.code, 21, `a quote error: ${clobber.stderr}`);
      assert.equal(await readFile(h('q-dir/q-a.txt'), 'utf8'), 'A', 'RENAME did not overwrite');
      const ln = await curl(['-Q', 'symlink /q-b.txt /q-link', url('/')]);
      assert.equal(ln.code, 21, ln.stderr);
      await assert.rejects(stat(h('q-link')), { code: 'ENOENT' });
      await ok(['-Q', 'rm /q-dir/q-a.txt', '-Q', 'rmdir /q-dir', '-Q', 'rm /q-b.txt', url('/')]);
      await assert.rejects(stat(h('q-dir')), { code: 'ENOENT' });
    });

    it('a missing file, and one outside the home, are both "not found"', async () => {
      await mkdir(join(ts.root, 'outside'), { recursive: true });
      await writeFile(join(ts.root, 'outside', 'secret.txt'), 'secret');
      for (const p of ['/nothere.bin', '/../../outside/secret.txt', '/%2e%2e/%2e%2e/outside/secret.txt']) {
        const r = await curl(['-o', 'x.bin', url(p)]);
        assert.equal(r.code, 78, `${p}: ${r.stderr}`);
      }
    });
  });

  describe('ssh2-sftp-client', () => {
    let c: SftpClient;
    before(async () => {
      c = new SftpClientClass();
      await c.connect({ host: '127.0.0.1', port: ts.port, username: 'alice', password: PW });
    });
    after(async () => {
      await c.end();
    });

    it('cwd, realPath, mkdir -p, put/get of buffers, exists, stat, list', async () => {
      assert.equal(await c.cwd(), '/');
      assert.equal(await c.realPath('../..'), '/');
      await c.mkdir('/s/t/u', true);
      await c.put(Buffer.from('hello buffer'), '/s/t/u/buf.txt');
      assert.equal(await readFile(h('s/t/u/buf.txt'), 'utf8'), 'hello buffer');
      assert.equal(((await c.get('/s/t/u/buf.txt')) as Buffer).toString(), 'hello buffer');
      assert.equal(await c.exists('/s/t/u/buf.txt'), '-');
      assert.equal(await c.exists('/s/t'), 'd');
      assert.equal(await c.exists('/s/nothere'), false);
      const st = await c.stat('/s/t/u/buf.txt');
      assert.ok(st.isFile && st.size === 12);
      const list = await c.list('/s/t/u');
      assert.deepEqual(list.map((e) => [e.name, e.type, e.size]), [['buf.txt', '-', 12]]);
      await assert.rejects(c.get('/s/nothere.txt'), /No such file/);
    });

    it('fastPut and fastGet (64 requests in flight), streams, append', async () => {
      await c.fastPut(l('big.bin'), '/fast.bin');
      assert.equal(sha(await readFile(h('fast.bin'))), sha(big));
      await c.fastGet('/fast.bin', l('fast-back.bin'), { chunkSize: 261120, concurrency: 32 });
      assert.equal(sha(await readFile(l('fast-back.bin'))), sha(big));
      const chunks: Buffer[] = [];
      for await (const chunk of c.createReadStream('/fast.bin')) chunks.push(chunk as Buffer);
      assert.equal(sha(Buffer.concat(chunks)), sha(big));
      await c.put(Buffer.from('start;'), '/app.txt');
      await c.append(Buffer.from('more;'), '/app.txt');
      await c.append(Buffer.from('end'), '/app.txt');
      assert.equal(await readFile(h('app.txt'), 'utf8'), 'start;more;end');
    });

    it('rename refuses to overwrite, posixRename overwrites; chmod masks; delete; rmdir -r', async () => {
      await c.put(Buffer.from('one'), '/one.txt');
      await c.put(Buffer.from('two'), '/two.txt');
      await assert.rejects(c.rename('/one.txt', '/two.txt'));
      assert.equal(await readFile(h('two.txt'), 'utf8'), 'two');
      await c.posixRename('/one.txt', '/two.txt');
      assert.equal(await readFile(h('two.txt'), 'utf8'), 'one');
      assert.equal(await c.exists('/one.txt'), false);
      await c.chmod('/two.txt', 0o6777);
      assert.equal((await stat(h('two.txt'))).mode & 0o7777, 0o777);
      await c.delete('/two.txt');
      await c.rmdir('/s', true);
      assert.equal(await c.exists('/s'), false);
    });

    it('uploadDir and downloadDir copy a tree both ways', async () => {
      await mkdir(l('tree/x/y'), { recursive: true });
      await writeFile(l('tree/top.txt'), 'top');
      await writeFile(l('tree/x/y/deep.bin'), big.subarray(0, 300_000));
      await c.uploadDir(l('tree'), '/tree');
      assert.equal(sha(await readFile(h('tree/x/y/deep.bin'))), sha(big.subarray(0, 300_000)));
      await c.downloadDir('/tree', l('tree-back'));
      assert.equal(await readFile(l('tree-back/top.txt'), 'utf8'), 'top');
      assert.equal(sha(await readFile(l('tree-back/x/y/deep.bin'))), sha(big.subarray(0, 300_000)));
    });

    it("ssh2's extension calls work because VERSION advertised them; hardlink is not offered", async () => {
      const sftp = c.sftp;
      const call = <T>(f: (cb: (err: Error | undefined | null, v: T) => void) => void) =>
        new Promise<T>((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v))));
      const vfs = await call<{ f_bsize: number; f_blocks: number }>((cb) => sftp.ext_openssh_statvfs('/', cb));
      assert.ok(vfs.f_bsize > 0 && vfs.f_blocks > 0, JSON.stringify(vfs));
      // ssh2 1.17's ext_openssh_expandPath writes the path length 3 bytes too early (`p += 20`
      // after a 23-byte name), mangling the extension name: the server rightly answers
      // OP_UNSUPPORTED to that, so expand-path is covered by raw-protocol instead.
      await assert.rejects(call<string>((cb) => sftp.ext_openssh_expandPath('~/a/../b', cb)), /unsupported/i);
      assert.equal(await call<string>((cb) => (sftp as unknown as { ext_home_dir(user: string, cb: (err: Error | undefined, home: string) => void): void }).ext_home_dir('alice', cb)), '/');
      await c.put(Buffer.from('0123456789'), '/copy-src.txt');
      const src = await call<Buffer>((cb) => sftp.open('/copy-src.txt', 'r', cb));
      const dst = await call<Buffer>((cb) => sftp.open('/copy-dst.txt', 'w', cb));
      await call<void>((cb) => sftp.ext_copy_data(src, 2, 5, dst, 0, cb as never));
      await call<void>((cb) => sftp.ext_openssh_fsync(dst, cb as never));
      await call<void>((cb) => sftp.close(src, cb as never));
      await call<void>((cb) => sftp.close(dst, cb as never));
      assert.equal(await readFile(h('copy-dst.txt'), 'utf8'), '23456');
      await assert.rejects(
        call<void>((cb) => sftp.ext_openssh_hardlink('/copy-src.txt', '/hard.txt', cb as never)),
        /not support/i,
      );
      await assert.rejects(stat(h('hard.txt')), { code: 'ENOENT' });
    });
  });
});
