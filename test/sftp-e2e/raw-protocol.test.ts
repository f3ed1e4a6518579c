/**
 * SFTP v3 at the packet level against the real in-process server (defaultRouter, real ssh2
 * transport): the VERSION reply and its extensions, limits@openssh.com, OP_UNSUPPORTED, RENAME
 * versus posix-rename, APPEND, OPEN pflags, the handle cap and handle cleanup, READ clamping,
 * READDIR batches, malformed input, and back-pressure from a client that stops reading.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeLimitsReply, decodeStatvfsReply } from '../../src/sftp/packets/extended-reply.js';
import { encodeRequest, type SftpReply } from '../../src/sftp/packets/packet.js';
import { PacketType } from '../../src/sftp/constants.js';
import { defaultRouter } from '../../src/server/routes.js';
import { describe as show, expectStatus, nameOf, OpenFlags, rawPacket, RawSftp, StatusCode, u32 } from '../support/sftp-raw.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { waitFor } from '../support/wait.js';

const PW = 'raw-protocol-pw';
const MAX_HANDLES = 8;
const { READ, WRITE, APPEND, CREAT, TRUNC, EXCL } = OpenFlags;

describe('SFTP protocol over the wire (raw packets)', () => {
  let ts: TestServer;
  let home: string;
  const sessions: RawSftp[] = [];
  const login = async (init = true) => {
    const s = await RawSftp.connect(ts.port, { username: 'alice', password: PW }, init);
    sessions.push(s);
    return s;
  };
  let s: RawSftp;
  const host = (p: string) => join(home, p);

  before(async () => {
    ts = await startTestServer({
      router: defaultRouter(),
      settings: { maxHandlesPerSession: MAX_HANDLES, maxSessionsPerUser: 200, maxConnectionsPerIp: 200, maxConnections: 400 },
    });
    await ts.addUser('alice', { password: PW });
    home = join(ts.root, 'homes', 'alice');
    s = await login();
  });
  after(async () => {
    for (const x of sessions) x.client.end();
    await ts.close();
  });

  describe('VERSION and extensions', () => {
    it('answers INIT with VERSION 3 and the extensions of SPEC §5, OpenSSH version strings', async () => {
      const fresh = await login(false);
      const v = await fresh.init(3);
      assert.equal(v.version, 3);
      assert.deepEqual(v.extensions, [
        ['posix-rename@openssh.com', '1'],
        ['statvfs@openssh.com', '2'],
        ['fstatvfs@openssh.com', '2'],
        ['fsync@openssh.com', '1'],
        ['limits@openssh.com', '1'],
        ['expand-path@openssh.com', '1'],
        ['home-directory', '1'],
        ['copy-data', '1'],
        ['check-file', '1'],
      ]);
      assert.ok(!v.extensions.some(([n]) => n === 'hardlink@openssh.com'), 'hardlink@openssh.com is not offered');
    });

    it('answers version 3 to a client asking for version 6', async () => {
      const fresh = await login(false);
      assert.equal((await fresh.init(6)).version, 3);
      assert.equal(nameOf(await fresh.request({ kind: 'realpath', path: '.' })), '/');
    });

    it('limits@openssh.com reports 262144 / 261120 / 261120 / maxHandlesPerSession', async () => {
      const r = await s.request({ kind: 'limits' });
      assert.equal(r.kind, 'extended-reply', show(r));
      assert.deepEqual(decodeLimitsReply((r as Extract<SftpReply, { kind: 'extended-reply' }>).data), {
        maxPacketLength: 262144,
        maxReadLength: 261120,
        maxWriteLength: 261120,
        maxOpenHandles: MAX_HANDLES,
      });
    });

    it('every advertised extension answers (statvfs, fstatvfs, fsync, expand-path, home-directory)', async () => {
      await writeFile(host('ext.txt'), 'ext');
      const vfs = await s.request({ kind: 'statvfs', path: '/' });
      assert.equal(vfs.kind, 'extended-reply', show(vfs));
      const st = decodeStatvfsReply((vfs as Extract<SftpReply, { kind: 'extended-reply' }>).data);
      assert.ok(st.bsize > 0 && st.blocks > 0, JSON.stringify(st));
      const h = await s.open('/ext.txt', READ | WRITE);
      assert.equal((await s.request({ kind: 'fstatvfs', handle: h })).kind, 'extended-reply');
      expectStatus(await s.request({ kind: 'fsync', handle: h }), StatusCode.OK, 'fsync');
      await s.close(h);
      assert.equal(nameOf(await s.request({ kind: 'expand-path', path: '~' })), '/');
      assert.equal(nameOf(await s.request({ kind: 'expand-path', path: '~/a/../b' })), '/b');
      assert.equal(nameOf(await s.request({ kind: 'expand-path', path: '~alice/x' })), '/x');
      expectStatus(await s.request({ kind: 'expand-path', path: '~root/x' }), StatusCode.NO_SUCH_FILE, 'another user');
      assert.equal(nameOf(await s.request({ kind: 'home-directory', username: 'alice' })), '/');
      expectStatus(await s.request({ kind: 'home-directory', username: 'root' }), StatusCode.NO_SUCH_FILE, 'home of root');
      const sum = await s.request({ kind: 'check-file-name', path: '/ext.txt', algorithms: ['sha256'], start: 0, length: 0, blockSize: 0 });
      assert.equal(sum.kind, 'extended-reply', `check-file-name: ${show(sum)}`);
    });

    it('unknown extensions answer OP_UNSUPPORTED and the session goes on; hardlink creates nothing', async () => {
      for (const name of ['hardlink@openssh.com', 'users-groups-by-id@openssh.com', 'lsetstat@openssh.com', 'no-such-extension', '']) {
        const r = await s.request({ kind: 'unknown-extended', name, data: Buffer.concat([str('/ext.txt'), str('/hl')]) });
        expectStatus(r, StatusCode.OP_UNSUPPORTED, `extension "${name}"`);
      }
      await assert.rejects(stat(host('hl')), { code: 'ENOENT' });
      assert.equal(nameOf(await s.request({ kind: 'realpath', path: '/a/./b/..' })), '/a');
    });

    it('an unknown packet type answers OP_UNSUPPORTED to its id', async () => {
      const id = s.id();
      expectStatus(await s.sendBytes(id, rawPacket(99, [id, 'whatever'])), StatusCode.OP_UNSUPPORTED, 'type 99');
      const id2 = s.id();
      expectStatus(await s.sendBytes(id2, rawPacket(PacketType.VERSION, [id2])), StatusCode.OP_UNSUPPORTED, 'a reply type sent as request');
    });
  });

  describe('semantics of OpenSSH sftp-server', () => {
    it('RENAME never overwrites; posix-rename@openssh.com does', async () => {
      await writeFile(host('r-a'), 'AAA');
      await writeFile(host('r-b'), 'BBB');
      const r = await s.request({ kind: 'rename', oldPath: '/r-a', newPath: '/r-b' });
      expectStatus(r, StatusCode.FAILURE, 'RENAME onto an existing file');
      assert.equal(await readFile(host('r-a'), 'utf8'), 'AAA');
      assert.equal(await readFile(host('r-b'), 'utf8'), 'BBB');
      await mkdir(host('r-dir'));
      expectStatus(await s.request({ kind: 'rename', oldPath: '/r-a', newPath: '/r-dir' }), StatusCode.FAILURE, 'RENAME onto a folder');
      expectStatus(await s.request({ kind: 'posix-rename', oldPath: '/r-a', newPath: '/r-b' }), StatusCode.OK, 'posix-rename');
      await assert.rejects(stat(host('r-a')), { code: 'ENOENT' });
      assert.equal(await readFile(host('r-b'), 'utf8'), 'AAA');
      expectStatus(await s.request({ kind: 'rename', oldPath: '/r-b', newPath: '/r-c' }), StatusCode.OK, 'RENAME to a free name');
      assert.equal(await readFile(host('r-c'), 'utf8'), 'AAA');
      expectStatus(await s.request({ kind: 'rename', oldPath: '/r-missing', newPath: '/r-d' }), StatusCode.NO_SUCH_FILE, 'RENAME of nothing');
      expectStatus(await s.request({ kind: 'rename', oldPath: '/r-dir', newPath: '/r-dir/sub' }), StatusCode.FAILURE, 'RENAME into itself');
    });

    it('an APPEND handle writes at the end of the file whatever the offset', async () => {
      await writeFile(host('app.txt'), 'hello');
      const h = await s.open('/app.txt', WRITE | APPEND);
      await s.write(h, 0, Buffer.from('XYZ'));
      await s.write(h, 2, Buffer.from('!'));
      await s.close(h);
      assert.equal(await readFile(host('app.txt'), 'utf8'), 'helloXYZ!');
      // OpenSSH's reput: WRITE|CREAT|APPEND, writes at the remote size.
      const r = await s.open('/app.txt', WRITE | CREAT | APPEND);
      await s.write(r, 9, Buffer.from('++'));
      await s.close(r);
      assert.equal(await readFile(host('app.txt'), 'utf8'), 'helloXYZ!++');
    });

    it('OPEN pflags: CREAT, TRUNC, EXCL, WinSCP resume (WRITE|CREAT without TRUNC), READ|WRITE', async () => {
      expectStatus(await s.request({ kind: 'open', path: '/pf-none', pflags: READ, attrs: {} }), StatusCode.NO_SUCH_FILE, 'READ of a missing file');
      expectStatus(await s.request({ kind: 'open', path: '/pf-none', pflags: WRITE, attrs: {} }), StatusCode.NO_SUCH_FILE, 'WRITE without CREAT');
      await assert.rejects(stat(host('pf-none')), { code: 'ENOENT' });

      await s.close(await s.open('/pf-new', WRITE | CREAT, { permissions: 0o640 }));
      const st = await stat(host('pf-new'));
      assert.equal(st.size, 0);
      assert.equal(st.mode & 0o777, 0o640);

      await writeFile(host('pf-resume'), '0123456789');
      const w = await s.open('/pf-resume', WRITE | CREAT);
      await s.write(w, 4, Buffer.from('ab'));
      await s.close(w);
      assert.equal(await readFile(host('pf-resume'), 'utf8'), '0123ab6789', 'no TRUNC keeps the bytes');

      await s.close(await s.open('/pf-resume', WRITE | CREAT | TRUNC));
      assert.equal((await stat(host('pf-resume'))).size, 0, 'TRUNC empties');

      await writeFile(host('pf-excl'), 'keep');
      expectStatus(await s.request({ kind: 'open', path: '/pf-excl', pflags: WRITE | CREAT | EXCL, attrs: {} }), StatusCode.FAILURE, 'EXCL on an existing file');
      assert.equal(await readFile(host('pf-excl'), 'utf8'), 'keep');
      await s.close(await s.open('/pf-excl2', WRITE | CREAT | EXCL));
      assert.equal((await stat(host('pf-excl2'))).size, 0);

      await writeFile(host('pf-rw'), 'abcdef');
      const rw = await s.open('/pf-rw', READ | WRITE);
      await s.write(rw, 1, Buffer.from('ZZ'));
      assert.equal((await s.read(rw, 0, 100))?.toString(), 'aZZdef');
      await s.close(rw);

      const ro = await s.open('/pf-rw', READ);
      const denied = await s.request({ kind: 'write', handle: ro, offset: 0, data: Buffer.from('no') });
      assert.ok(denied.kind === 'status' && denied.code !== StatusCode.OK, `WRITE on a read-only handle: ${show(denied)}`);
      await s.close(ro);
      const wo = await s.open('/pf-rw', WRITE);
      const unread = await s.request({ kind: 'read', handle: wo, offset: 0, length: 10 });
      assert.ok(unread.kind === 'status' && unread.code !== StatusCode.OK && unread.code !== StatusCode.EOF, `READ on a write-only handle: ${show(unread)}`);
      await s.close(wo);
      assert.equal(await readFile(host('pf-rw'), 'utf8'), 'aZZdef');

      await mkdir(host('pf-dir'));
      expectStatus(await s.request({ kind: 'open', path: '/pf-dir', pflags: READ, attrs: {} }), StatusCode.FAILURE, 'OPEN of a folder');
      expectStatus(await s.request({ kind: 'open', path: '/', pflags: WRITE | CREAT, attrs: {} }), StatusCode.FAILURE, 'OPEN of the home');
    });
  });

  describe('handles', () => {
    it(`caps open handles at maxHandlesPerSession (${MAX_HANDLES}), files and folders alike`, async () => {
      const x = await login();
      await writeFile(host('cap.txt'), 'cap');
      const handles: Buffer[] = [];
      for (let i = 0; i < MAX_HANDLES; i++) handles.push(i % 2 ? await x.opendir('/') : await x.open('/cap.txt', READ));
      const over = expectStatus(await x.request({ kind: 'open', path: '/cap.txt', pflags: READ, attrs: {} }), StatusCode.FAILURE, 'one handle too many');
      assert.match(over.message, /handles/i);
      expectStatus(await x.request({ kind: 'opendir', path: '/' }), StatusCode.FAILURE, 'one folder handle too many');
      await x.close(handles.pop()!);
      handles.push(await x.open('/cap.txt', READ));
      // Another session of the same user has its own table.
      const y = await login();
      await y.close(await y.open('/cap.txt', READ));
      for (const h of handles) await x.close(h);
    });

    it('an unknown or closed handle is a FAILURE status, not the end of the connection', async () => {
      const x = await login();
      await writeFile(host('closed.txt'), 'closed');
      const h = await x.open('/closed.txt', READ | WRITE);
      await x.close(h);
      const bogus = [h, Buffer.alloc(8), Buffer.alloc(3), Buffer.alloc(0)];
      for (const handle of bogus) {
        expectStatus(await x.request({ kind: 'close', handle }), StatusCode.FAILURE, 'CLOSE');
      }
      assert.equal(nameOf(await x.request({ kind: 'realpath', path: '.' })), '/');
    });

    it(
      'READ, WRITE, FSTAT, FSETSTAT, READDIR, fsync and fstatvfs on an unknown handle answer FAILURE and the connection lives',
      async () => {
        const x = await login();
        const handle = Buffer.from('deadbeefdeadbeef', 'hex');
        const bodies = [
          { kind: 'read', handle, offset: 0, length: 10 },
          { kind: 'write', handle, offset: 0, data: Buffer.from('x') },
          { kind: 'fstat', handle },
          { kind: 'fsetstat', handle, attrs: { permissions: 0o777 } },
          { kind: 'readdir', handle },
          { kind: 'fsync', handle },
          { kind: 'fstatvfs', handle },
        ] as const;
        for (const body of bodies) {
          const r = await x.request(body).catch((err: Error) => err);
          assert.ok(!(r instanceof Error), `${body.kind} on an unknown handle: ${r instanceof Error ? r.message : ''}`);
          expectStatus(r, StatusCode.FAILURE, body.kind);
        }
      },
    );

    it('every handle is closed when the channel ends (EOF) or the connection drops', async () => {
      await writeFile(host('fd.txt'), 'fd');
      await mkdir(host('fd-dir'), { recursive: true });
      for (const how of ['eof', 'drop'] as const) {
        const x = await login();
        for (let i = 0; i < 4; i++) await x.open('/fd.txt', READ | WRITE);
        for (let i = 0; i < 3; i++) await x.opendir('/fd-dir');
        assert.ok((await fdsUnder(home)) >= 7, 'the server holds the descriptors');
        if (how === 'eof') await x.end();
        else x.client.destroy();
        await waitFor(async () => (await fdsUnder(home)) === 0, 5000, `descriptors closed after ${how}`);
      }
      const interrupted = ts.logs.events('sftp-protocol-error');
      assert.equal(interrupted.length, 0, 'no protocol error logged for a clean end');
    });
  });

  describe('READ and READDIR bounds', () => {
    it('READ lengths are clamped to 261120 bytes', async () => {
      const data = Buffer.alloc(600_000, 7);
      await writeFile(host('big-read.bin'), data);
      const h = await s.open('/big-read.bin', READ);
      for (const length of [0xffffffff, 1_000_000, 261121]) {
        assert.equal((await s.read(h, 0, length))?.length, 261120, `READ of ${length}`);
      }
      assert.equal((await s.read(h, 500_000, 0xffffffff))?.length, 100_000, 'a short read at the end');
      assert.equal(await s.read(h, 600_000, 10), null, 'EOF at the end');
      assert.equal(await s.read(h, 2 ** 40, 10), null, 'EOF far past the end');
      await s.close(h);
    });

    it('READDIR sends at most 100 names per reply: a 250-entry folder takes at least 3 replies', async () => {
      await mkdir(host('many'));
      const expected: string[] = [];
      for (let i = 0; i < 250; i++) {
        const name = `entry-${String(i).padStart(3, '0')}`;
        expected.push(name);
        if (i % 10 === 0) await mkdir(host(`many/${name}`));
        else await writeFile(host(`many/${name}`), String(i));
      }
      const { names, batches } = await s.list('/many');
      assert.ok(batches.every((n) => n > 0 && n <= 100), `batches ${batches.join(',')}`);
      assert.ok(batches.length >= 3, `batches ${batches.join(',')}`);
      assert.deepEqual(names.filter((n) => n !== '.' && n !== '..').sort(), expected);
      assert.equal(new Set(names).size, names.length, 'no name twice');
    });

    it('READDIR keeps answering EOF after the end, and READDIR on a file handle fails', async () => {
      const h = await s.opendir('/pf-dir');
      let r: SftpReply;
      do r = await s.request({ kind: 'readdir', handle: h });
      while (r.kind === 'name');
      expectStatus(r, StatusCode.EOF, 'end of listing');
      expectStatus(await s.request({ kind: 'readdir', handle: h }), StatusCode.EOF, 'again');
      await s.close(h);
      const f = await s.open('/cap.txt', READ);
      expectStatus(await s.request({ kind: 'readdir', handle: f }), StatusCode.FAILURE, 'READDIR on a file handle');
      const d = await s.opendir('/');
      expectStatus(await s.request({ kind: 'read', handle: d, offset: 0, length: 1 }), StatusCode.FAILURE, 'READ on a folder handle');
      await s.close(f);
      await s.close(d);
    });
  });

  describe('malformed input', () => {
    let witness: RawSftp;
    before(async () => {
      witness = await login();
    });

    /** A fresh session (INIT done unless told), the bytes, then: closed cleanly or answered. */
    const attack = async (bytes: Buffer, init = true) => {
      const x = await login(init);
      x.writeRaw(bytes);
      return x;
    };
    const closesCleanly = async (x: RawSftp, what: string) => {
      await Promise.race([x.closed, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: channel not closed`)), 5000))]);
      assert.equal(x.decodeError, undefined, `${what}: every reply decoded`);
    };
    const stillServes = async (what: string) => {
      assert.equal(nameOf(await witness.request({ kind: 'realpath', path: '/x/..' })), '/', `${what}: the witness session still works`);
    };

    it('length 0, length over 256 KiB, a non-INIT first packet, a duplicate INIT and a 4-byte packet end the channel', async () => {
      const cases: Array<[string, Buffer, boolean]> = [
        ['length 0', u32(0), true],
        ['length 256 KiB + 1', Buffer.concat([u32(256 * 1024 + 1), Buffer.alloc(64)]), true],
        ['length 0xffffffff', Buffer.concat([u32(0xffffffff), Buffer.alloc(64)]), true],
        ['non-INIT first packet', encodeRequest({ kind: 'realpath', id: 1, path: '.' }), false],
        ['empty first packet', u32(0), false],
        ['duplicate INIT', encodeRequest({ kind: 'init', version: 3 }), true],
        ['a packet too short for an id', rawPacket(PacketType.STAT, [{ raw: Buffer.from([0, 0]) }]), true],
        ['random bytes', Buffer.from('8f3c1e0d9a7b6c5d4e3f2a1b0c9d8e7f'.repeat(64), 'hex'), true],
      ];
      for (const [what, bytes, init] of cases) {
        const x = await attack(bytes, init);
        await closesCleanly(x, what);
        await stillServes(what);
      }
      assert.ok(ts.logs.events('sftp-protocol-error').length >= cases.length, 'each is logged as a protocol error');
    });

    it('truncated fields, an over-long handle, a 300 KB path field and invalid UTF-8 get a STATUS and the session goes on', async () => {
      const x = await login();
      const expectAnswer = async (what: string, id: number, bytes: Buffer, codes: number[]) => {
        const r = await x.sendBytes(id, bytes);
        assert.ok(r.kind === 'status' && codes.includes(r.code), `${what}: ${show(r)}`);
      };
      let id = x.id();
      await expectAnswer('OPEN cut after the path length', id, rawPacket(PacketType.OPEN, [id, { raw: u32(100) }, { raw: Buffer.from('abc') }]), [StatusCode.BAD_MESSAGE]);
      id = x.id();
      await expectAnswer('OPEN without pflags', id, rawPacket(PacketType.OPEN, [id, '/f']), [StatusCode.BAD_MESSAGE]);
      id = x.id();
      await expectAnswer('WRITE cut in the offset', id, rawPacket(PacketType.WRITE, [id, Buffer.alloc(8), { raw: Buffer.alloc(3) }]), [StatusCode.BAD_MESSAGE]);
      id = x.id();
      await expectAnswer('ATTRS claiming 2^31 extensions', id, rawPacket(PacketType.SETSTAT, [id, '/f', 0x80000000, 0x7fffffff]), [StatusCode.BAD_MESSAGE]);
      id = x.id();
      await expectAnswer('READ with a 300-byte handle', id, rawPacket(PacketType.READ, [id, Buffer.alloc(300, 1), { u64: 0 }, 10]), [StatusCode.BAD_MESSAGE, StatusCode.FAILURE]);
      id = x.id();
      await expectAnswer('CLOSE with a 300-byte handle', id, rawPacket(PacketType.CLOSE, [id, Buffer.alloc(300, 1)]), [StatusCode.BAD_MESSAGE, StatusCode.FAILURE]);
      // A string claiming 300 KB inside a packet of the maximum size (256 KiB).
      id = x.id();
      const max = 256 * 1024;
      const filler = Buffer.alloc(max - 1 - 4 - 4, 0x61);
      await expectAnswer('a 300 KB path field in a max-size packet', id, rawPacket(PacketType.OPEN, [id, { raw: u32(300 * 1024) }, { raw: filler }]), [StatusCode.BAD_MESSAGE]);
      // A real 250 KB path that fits: refused as a path (over 4096 bytes), nothing created.
      id = x.id();
      await expectAnswer('a 250 KB path', id, rawPacket(PacketType.OPEN, [id, 'p'.repeat(250 * 1024), READ | WRITE | CREAT, 0]), [StatusCode.NO_SUCH_FILE, StatusCode.FAILURE, StatusCode.BAD_MESSAGE]);
      id = x.id();
      await expectAnswer('MKDIR of a 250 KB path', id, rawPacket(PacketType.MKDIR, [id, 'd/'.repeat(125 * 1024), 0]), [StatusCode.NO_SUCH_FILE, StatusCode.FAILURE, StatusCode.BAD_MESSAGE]);
      for (const bad of [Buffer.from([0xc0, 0xae, 0xc0, 0xae, 0x2f, 0x78]), Buffer.from([0x66, 0xff, 0xfe]), Buffer.from([0xed, 0xa0, 0x80])]) {
        id = x.id();
        await expectAnswer(`invalid UTF-8 ${bad.toString('hex')}`, id, rawPacket(PacketType.OPEN, [id, bad, READ | WRITE | CREAT, 0]), [StatusCode.NO_SUCH_FILE, StatusCode.BAD_MESSAGE]);
      }
      assert.deepEqual((await readdir(home)).filter((n) => n.startsWith('p') && n.length > 100), []);
      assert.equal(nameOf(await x.request({ kind: 'realpath', path: '.' })), '/', 'the session still serves');
      assert.equal(x.unexpected.length, 0, 'no reply without a request');
      await stillServes('after the answered cases');
    });

    it('a request split into one-byte writes is framed correctly; packets glued together are all answered', async () => {
      const x = await login();
      const id = x.id();
      const bytes = encodeRequest({ kind: 'realpath', id, path: '/a/../b' });
      const reply = x.sendBytes(id, Buffer.alloc(0));
      for (const byte of bytes) x.writeRaw(Buffer.from([byte]));
      assert.equal(nameOf(await reply), '/b');
      const ids = [x.id(), x.id(), x.id()];
      const glued = Buffer.concat(ids.map((i) => encodeRequest({ kind: 'realpath', id: i, path: `/g${i}` })));
      const replies = ids.map((i) => x.sendBytes(i, Buffer.alloc(0)));
      x.writeRaw(glued);
      assert.deepEqual(await Promise.all(replies.map(async (r) => nameOf(await r))), ids.map((i) => `/g${i}`));
    });

    it('after all of it the server still accepts new sessions', async () => {
      const x = await login();
      assert.equal(nameOf(await x.request({ kind: 'realpath', path: '.' })), '/');
      await stillServes('at the end');
    });
  });

  describe('back-pressure', () => {
    it('a client that stops reading its channel cannot grow server memory; other sessions stay responsive; every reply arrives after', async (t) => {
      const FILE = 1024 * 1024;
      const N = 2000;
      await writeFile(host('bp.bin'), Buffer.alloc(FILE, 0x5a));
      const x = await login();
      const witness = await login();
      await writeFile(host('bp-small.txt'), 'small');
      const h = await x.open('/bp.bin', READ);
      const base = process.memoryUsage();
      let peakRss = base.rss;
      let peakExternal = base.external + base.arrayBuffers;
      const sample = () => {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakExternal = Math.max(peakExternal, m.external + m.arrayBuffers);
      };
      x.stream.pause();
      // Each READ asks 261120 bytes (N of them would be ~500 MB of replies) and carries 4 KiB of
      // trailing bytes (ignored, as OpenSSH does), so the requests alone overrun the SSH window.
      const pad = { raw: Buffer.alloc(4096) };
      const replies: Array<Promise<number>> = [];
      for (let i = 0; i < N; i++) {
        const id = x.id();
        replies.push(x.sendBytes(id, rawPacket(PacketType.READ, [id, h, { u64: 0 }, 261120, pad])).then((r) => (r.kind === 'data' ? r.data.length : -1)));
      }
      const out = x.stream as unknown as { outgoing: { window: number }; writableLength: number };
      await waitFor(() => (sample(), out.outgoing.window === 0 && out.writableLength > 0), 10_000, 'the server to stop opening the SSH window');
      // Other sessions are served while this one is stalled.
      const t0 = Date.now();
      const small = await witness.open('/bp-small.txt', READ);
      assert.equal((await witness.read(small, 0, 100))?.toString(), 'small');
      await witness.close(small);
      const witnessMs = Date.now() - t0;
      assert.ok(witnessMs < 2000, `another session answered in ${witnessMs} ms`);
      for (let i = 0; i < 10; i++) {
        sample();
        await witness.request({ kind: 'stat', path: '/bp.bin' });
      }
      assert.ok(out.writableLength > 0 && out.outgoing.window === 0, 'still stalled');
      sample();
      const growthMb = (peakRss - base.rss) / 2 ** 20;
      const externalMb = (peakExternal - base.external - base.arrayBuffers) / 2 ** 20;
      t.diagnostic(`stalled: RSS +${growthMb.toFixed(1)} MB, buffers +${externalMb.toFixed(1)} MB, ${x.waiting} replies pending, ${out.writableLength} request bytes held by the client`);
      assert.ok(growthMb < 100, `RSS grew ${growthMb.toFixed(1)} MB`);
      assert.ok(externalMb < 100, `buffers grew ${externalMb.toFixed(1)} MB`);
      assert.ok(x.waiting > N / 2, `most replies wait (${x.waiting})`);
      x.stream.resume();
      const lengths = await Promise.all(replies);
      assert.equal(lengths.length, N);
      assert.equal(lengths.filter((n) => n === 261120).length, N, 'every READ answered with 261120 bytes');
      await x.close(h);
      assert.equal(x.unexpected.length, 0);
    });

    it('a client that dies while stalled: its session ends and closes its handles', async () => {
      // ssh2 emits a channel's 'close' only after its 'end', which a paused channel never reaches;
      // without the connection's abort signal the session kept its files open forever.
      await writeFile(host('bp-dead.bin'), Buffer.alloc(1024 * 1024, 0x33));
      const x = await login();
      const h = await x.open('/bp-dead.bin', READ);
      assert.equal(await fdsUnder(host('bp-dead.bin')), 1);
      x.stream.pause();
      const pad = { raw: Buffer.alloc(4096) };
      for (let i = 0; i < 1000; i++) {
        const id = x.id();
        x.sendBytes(id, rawPacket(PacketType.READ, [id, h, { u64: 0 }, 261120, pad])).catch(() => undefined);
      }
      const out = x.stream as unknown as { outgoing: { window: number }; writableLength: number };
      await waitFor(() => out.outgoing.window === 0 && out.writableLength > 0, 10_000, 'the server to stop opening the SSH window');
      // As a SIGKILL would: the TCP connection goes away without any SSH goodbye.
      (x.client as unknown as { _sock: { destroy(): void } })._sock.destroy();
      await waitFor(async () => (await fdsUnder(host('bp-dead.bin'))) === 0, 10_000, 'the dead session to close its file');
    });
  });
});

/** An SSH string. */
function str(s: string): Buffer {
  return Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);
}

/** How many of this process's descriptors lead into `dir` (the server runs in-process). */
async function fdsUnder(dir: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target === dir || target.startsWith(dir + '/')) n++;
  }
  return n;
}
