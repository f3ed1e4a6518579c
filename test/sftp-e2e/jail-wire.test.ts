/**
 * The jail over the wire: every path spelling, pre-existing symlinks that lead out of the home
 * (dangling ones and ones in a parent component too), FIFOs and devices, NUL/control bytes,
 * invalid UTF-8 and huge paths, handles of another session, setstat of setuid bits and ownership,
 * and symlink creation (off, then on). Nothing outside the home is read, written, listed or
 * revealed: an outside path answers exactly like a missing one, no reply names a host path, and
 * the canary files outside the home are byte-for-byte unchanged at the end.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SftpReply } from '../../src/sftp/packets/packet.js';
import { PacketType } from '../../src/sftp/constants.js';
import { defaultRouter } from '../../src/server/routes.js';
import { runIn, sftpBatch, type OpenSshTarget } from '../support/openssh.js';
import { describe as show, expectStatus, nameOf, OpenFlags, rawPacket, RawSftp, type RequestBody, StatusCode } from '../support/sftp-raw.js';
import { makeClientKey } from '../support/ssh-clients.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const PW = 'jail-wire-pw';
const SECRET = 'TOP SECRET canary';
const { READ, WRITE, CREAT, TRUNC, APPEND } = OpenFlags;

/** Every file and folder under `dir` with its type, mode, owner, size and content hash. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const st = await lstat(p);
      let what = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size}`;
      if (st.isFile()) what += ' ' + createHash('sha256').update(await readFile(p)).digest('hex');
      if (st.isSymbolicLink()) what += ' -> ' + (await readlink(p));
      out[relative(dir, p)] = what;
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out;
}

/** The reply shape that must not differ between an outside path and a missing one. */
function shape(r: SftpReply): string {
  return r.kind === 'status' ? `STATUS ${r.code} ${r.message}` : r.kind;
}

describe('the jail over the wire', () => {
  let ts: TestServer;
  let root: string;
  let home: string;
  let outsideSnapshot: Record<string, string>;
  let s: RawSftp;
  const sessions: RawSftp[] = [];
  const replies: SftpReply[] = [];
  const login = async (user = 'alice') => {
    const x = await RawSftp.connect(ts.port, { username: user, password: PW });
    sessions.push(x);
    return x;
  };
  /** A request whose reply is kept, to check at the end that none names a host path. */
  const req = async (body: RequestBody, on = s) => {
    const r = await on.request(body);
    replies.push(r);
    return r;
  };
  const h = (p: string) => join(home, p);
  const outsideEntries = async () => ({ root: (await readdir(root)).sort(), homes: (await readdir(join(root, 'homes'))).sort() });
  let entriesBefore: Awaited<ReturnType<typeof outsideEntries>>;

  before(async () => {
    ts = await startTestServer({ router: defaultRouter(), settings: { maxSessionsPerUser: 100, maxConnectionsPerIp: 100 } });
    root = ts.root;
    await ts.addUser('alice', { password: PW });
    await ts.addUser('bob', { password: PW });
    home = join(root, 'homes', 'alice');
    // Canaries outside alice's home: a folder next to homes/, a sibling home whose name starts
    // with "alice", bob's home, and a file at the state root.
    await mkdir(join(root, 'outside', 'sub'), { recursive: true });
    await writeFile(join(root, 'outside', 'secret.txt'), SECRET, { mode: 0o640 });
    await writeFile(join(root, 'outside', 'sub', 'deep.txt'), SECRET + ' deep');
    await mkdir(join(root, 'homes', 'alice2'));
    await writeFile(join(root, 'homes', 'alice2', 'secret.txt'), SECRET + ' sibling');
    await writeFile(join(root, 'homes', 'bob', 'bob.txt'), SECRET + ' bob');
    await writeFile(join(root, 'canary-root.txt'), SECRET + ' root');
    // Alice's home: files, and symlinks placed there by someone else (the admin, a restore...).
    await mkdir(h('docs'));
    await writeFile(h('docs/readme.txt'), 'readme');
    const links: Array<[string, string]> = [
      ['out', join(root, 'outside')],
      ['outfile', join(root, 'outside', 'secret.txt')],
      ['relout', '../../outside/secret.txt'],
      ['sibling', '../alice2'],
      ['dangling', join(root, 'outside', 'planted.txt')],
      ['danglingrel', '../../outside/planted-rel.txt'],
      ['up', '..'],
      ['slash', '/'],
      ['devnull', '/dev/null'],
      ['loop', 'loop'],
      ['inside', 'docs/readme.txt'],
      ['insidedir', 'docs'],
      ['docs/back', '../docs/readme.txt'],
      ['docs/escape', '../../../outside'],
    ];
    for (const [name, target] of links) await symlink(target, h(name));
    const fifo = await runIn(home, 'mkfifo', [h('fifo')]);
    assert.equal(fifo.code, 0, fifo.stderr);
    const dev = await runIn(home, 'mknod', [h('null'), 'c', '1', '3']);
    assert.equal(dev.code, 0, `mknod (needs root): ${dev.stderr}`);
    outsideSnapshot = { ...(await snapshot(join(root, 'outside'))), ...prefix('homes/alice2', await snapshot(join(root, 'homes', 'alice2'))), ...prefix('homes/bob', await snapshot(join(root, 'homes', 'bob'))) };
    entriesBefore = await outsideEntries();
    s = await login();
  });
  after(async () => {
    for (const x of sessions) x.client.end();
    await ts.close();
  });

  // An existing outside file reached by each spelling, and the same spelling of a missing name.
  const SPELLINGS: Array<[string, string]> = [
    ['../../outside/secret.txt', '../../outside/nothere.txt'],
    ['/../../outside/secret.txt', '/../../outside/nothere.txt'],
    ['//..//..//outside//secret.txt', '//..//..//outside//nothere.txt'],
    ['./../../../../../../outside/secret.txt', './../../../../../../outside/nothere.txt'],
    ['docs/../../../outside/secret.txt', 'docs/../../../outside/nothere.txt'],
    ['..\\..\\outside\\secret.txt', '..\\..\\outside\\nothere.txt'],
    ['../alice2/secret.txt', '../alice2/nothere.txt'],
    ['..%2f..%2foutside%2fsecret.txt', '..%2f..%2foutside%2fnothere.txt'],
    ['\uff0e\uff0e\uff0f\uff0e\uff0e\uff0foutside/secret.txt', '\uff0e\uff0e\uff0f\uff0e\uff0e\uff0foutside/nothere.txt'],
    ['out/secret.txt', 'out/nothere.txt'],
    ['out/sub/deep.txt', 'out/sub/nothere.txt'],
    ['outfile', 'nolink'],
    ['relout', 'nolink2'],
    ['sibling/secret.txt', 'sibling/nothere.txt'],
    ['up/alice2/secret.txt', 'up/alice2/nothere.txt'],
    ['up/bob/bob.txt', 'up/bob/nothere.txt'],
    ['insidedir/../up/bob/bob.txt', 'insidedir/../up/bob/nothere.txt'],
    ['docs/escape/secret.txt', 'docs/escape/nothere.txt'],
    ['slash/etc/passwd', 'slash/etc/nothere'],
    ['devnull', 'nolink3'],
  ];

  it('an outside file answers exactly like a missing one, whatever the spelling, for every read-only request', async () => {
    const absolute = join(root, 'outside', 'secret.txt');
    const cases: Array<[string, string]> = [...SPELLINGS, [absolute, absolute.replace('secret', 'nothere')], ['/' + absolute, '/' + absolute.replace('secret', 'nothere')]];
    const ops: Array<[string, (p: string) => RequestBody]> = [
      ['STAT', (path) => ({ kind: 'stat', path })],
      ['OPEN READ', (path) => ({ kind: 'open', path, pflags: READ, attrs: {} })],
      ['OPENDIR', (path) => ({ kind: 'opendir', path: dirname(path) })],
      ['OPENDIR of the path', (path) => ({ kind: 'opendir', path })],
      ['READLINK', (path) => ({ kind: 'readlink', path })],
      ['check-file-name', (path) => ({ kind: 'check-file-name', path, algorithms: ['sha256'], start: 0, length: 0, blockSize: 0 })],
    ];
    for (const [outside, missing] of cases) {
      for (const [op, body] of ops) {
        const a = await req(body(outside));
        const b = await req(body(missing));
        if (a.kind === 'handle') await s.close(a.handle);
        if (b.kind === 'handle') await s.close(b.handle);
        if (op === 'OPENDIR' && a.kind === 'handle') continue; // the parent is a folder inside the home (e.g. "/")
        assert.equal(shape(a), shape(b), `${op} ${JSON.stringify(outside)}: ${show(a)} vs missing ${show(b)}`);
        assert.ok(a.kind === 'status' && a.code !== StatusCode.OK, `${op} ${JSON.stringify(outside)} refused: ${show(a)}`);
      }
    }
  });

  it('REALPATH and expand-path stay lexical and inside: ".." stops at "/", no host path comes back', async () => {
    const expect: Array<[string, string]> = [
      ['..', '/'],
      ['/../../..', '/'],
      ['//..//x//', '/x'],
      ['../../outside/secret.txt', '/outside/secret.txt'],
      ['out/../..', '/'],
      ['a\\..\\..\\b', '/a\\..\\..\\b'],
    ];
    for (const [path, virtual] of expect) {
      assert.equal(nameOf(await req({ kind: 'realpath', path })), virtual, `REALPATH ${path}`);
      assert.equal(nameOf(await req({ kind: 'expand-path', path: `~/${path}` })), virtual === '/' ? '/' : virtual, `expand-path ~/${path}`);
    }
  });

  it('links inside the home work; READLINK gives a relative text as stored, nothing of an outside link', async () => {
    const st = await req({ kind: 'stat', path: 'inside' });
    assert.ok(st.kind === 'attrs' && st.attrs.size === 6, show(st));
    const f = await s.open('inside', READ);
    assert.equal((await s.read(f, 0, 100))?.toString(), 'readme');
    await s.close(f);
    assert.deepEqual((await s.list('insidedir')).names.filter((n) => n[0] !== '.').sort(), ['back', 'escape', 'readme.txt']);
    assert.equal(nameOf(await req({ kind: 'readlink', path: 'inside' })), 'docs/readme.txt');
    assert.equal(nameOf(await req({ kind: 'readlink', path: 'docs/back' })), '../docs/readme.txt');
    assert.equal(nameOf(await req({ kind: 'readlink', path: 'loop' })), 'loop');
    expectStatus(await req({ kind: 'stat', path: 'loop' }), StatusCode.NO_SUCH_FILE, 'STAT of a self-loop');
    expectStatus(await req({ kind: 'open', path: 'loop', pflags: READ, attrs: {} }), StatusCode.NO_SUCH_FILE, 'OPEN of a self-loop');
    for (const link of ['out', 'outfile', 'relout', 'sibling', 'up', 'slash', 'devnull', 'dangling', 'danglingrel', 'docs/escape']) {
      expectStatus(await req({ kind: 'readlink', path: link }), StatusCode.NO_SUCH_FILE, `READLINK ${link}`);
      const l = await req({ kind: 'lstat', path: link });
      assert.equal(l.kind, 'attrs', `LSTAT ${link} describes the link itself: ${show(l)}`);
    }
    // Listing the home shows the link names, not what they lead to.
    const { names } = await s.list('/');
    assert.ok(names.includes('out') && names.includes('up'));
    assert.ok(!names.includes('secret.txt') && !names.includes('alice2') && !names.includes('bob'));
  });

  it('no listing through a link or spelling that leads out', async () => {
    for (const path of ['out', 'out/sub', 'up', 'up/..', 'sibling', 'slash', 'slash/etc', 'docs/escape', 'insidedir/../up', '../..', '/..']) {
      const r = await req({ kind: 'opendir', path });
      if (r.kind === 'handle') {
        // Lexical ".." stops at "/": what is listed must be the home itself.
        const names: string[] = [];
        for (;;) {
          const batch = await req({ kind: 'readdir', handle: r.handle });
          if (batch.kind !== 'name') break;
          names.push(...batch.entries.map((e) => e.filename));
        }
        await s.close(r.handle);
        assert.ok(names.includes('docs') && names.includes('fifo'), `OPENDIR ${path} listed the home, not ${names.join(',')}`);
        continue;
      }
      expectStatus(r, StatusCode.NO_SUCH_FILE, `OPENDIR ${path}`);
    }
  });

  it('no write, create, remove, rename, mkdir or setstat reaches outside through links, dangling links or spellings', async () => {
    const targets = ['outfile', 'relout', 'dangling', 'danglingrel', 'out/planted.txt', 'out/secret.txt', 'up/planted.txt', 'up/bob/bob.txt', 'sibling/secret.txt', 'sibling/planted.txt', 'docs/escape/planted.txt', 'slash/tmp/planted.txt', 'devnull', 'loop/x'];
    for (const path of targets) {
      for (const pflags of [WRITE | CREAT | TRUNC, WRITE | CREAT | APPEND, WRITE | CREAT, READ | WRITE]) {
        const r = await req({ kind: 'open', path, pflags, attrs: { permissions: 0o777 } });
        if (r.kind === 'handle') {
          await s.close(r.handle);
          assert.fail(`OPEN ${path} pflags ${pflags} gave a handle`);
        }
        assert.ok(r.kind === 'status' && r.code !== StatusCode.OK, `OPEN ${path}: ${show(r)}`);
      }
      const refused = (r: SftpReply, what: string) => assert.ok(r.kind === 'status' && r.code !== StatusCode.OK, `${what} ${path}: ${show(r)}`);
      refused(await req({ kind: 'setstat', path, attrs: { permissions: 0o777 } }), 'SETSTAT perms');
      refused(await req({ kind: 'setstat', path, attrs: { size: 0 } }), 'SETSTAT size');
      refused(await req({ kind: 'setstat', path, attrs: { atime: 1, mtime: 1 } }), 'SETSTAT times');
      refused(await req({ kind: 'mkdir', path: `${path}-dir/x`, attrs: {} }), 'MKDIR under');
      // Renaming onto a link's own name replaces the link inside the home; only paths through one are tested.
      if (path.includes('/')) {
        refused(await req({ kind: 'rename', oldPath: 'docs/readme.txt', newPath: path }), 'RENAME onto');
        refused(await req({ kind: 'posix-rename', oldPath: 'docs/readme.txt', newPath: path }), 'posix-rename onto');
      }
    }
    for (const path of ['out/secret.txt', 'up/bob/bob.txt', 'sibling/secret.txt', 'docs/escape/secret.txt', 'up/alice2', 'out/sub', '../../outside/secret.txt']) {
      const refused = (r: SftpReply, what: string) => assert.ok(r.kind === 'status' && r.code !== StatusCode.OK, `${what} ${path}: ${show(r)}`);
      refused(await req({ kind: 'remove', path }), 'REMOVE');
      refused(await req({ kind: 'rmdir', path }), 'RMDIR');
      refused(await req({ kind: 'rename', oldPath: path, newPath: '/stolen' }), 'RENAME from');
      refused(await req({ kind: 'posix-rename', oldPath: path, newPath: '/stolen' }), 'posix-rename from');
      refused(await req({ kind: 'mkdir', path: `${path}/newdir`, attrs: {} }), 'MKDIR');
    }
    for (const path of ['out/newdir', 'up/newdir', 'sibling/newdir', 'docs/escape/newdir', 'slash/tmp/coffer-escape-newdir']) {
      assert.ok((await req({ kind: 'mkdir', path, attrs: {} })).kind === 'status');
      await assert.rejects(stat(resolve(home, path)), { code: 'ENOENT' }, `MKDIR ${path} made nothing`);
    }
    await assert.rejects(stat(h('stolen')), { code: 'ENOENT' });
    assert.equal(await readFile(h('docs/readme.txt'), 'utf8'), 'readme');
    await assert.rejects(stat(join(root, 'outside', 'planted.txt')), { code: 'ENOENT' });
    await assert.rejects(stat(join(root, 'outside', 'planted-rel.txt')), { code: 'ENOENT' });
    await assert.rejects(stat('/tmp/planted.txt'), { code: 'ENOENT' });
  });

  it('spellings with ".." that normalise inside create inside the home, never above it', async () => {
    const created = ['../../escaped-1.txt', '/../../../escaped-2.txt', 'docs/../../escaped-3.txt', '..\\..\\escaped-4.txt'];
    for (const path of created) {
      const f = await s.open(path, WRITE | CREAT | TRUNC);
      await s.write(f, 0, Buffer.from('inside'));
      await s.close(f);
    }
    assert.equal(await readFile(h('escaped-1.txt'), 'utf8'), 'inside');
    assert.equal(await readFile(h('escaped-2.txt'), 'utf8'), 'inside');
    assert.equal(await readFile(h('escaped-3.txt'), 'utf8'), 'inside');
    assert.equal(await readFile(h('..\\..\\escaped-4.txt'), 'utf8'), 'inside', 'a backslash is an ordinary character');
    for (const name of ['escaped-1.txt', 'escaped-2.txt', 'escaped-3.txt', 'escaped-4.txt']) {
      await assert.rejects(stat(join(root, name)), { code: 'ENOENT' });
      await assert.rejects(stat(join(root, 'homes', name)), { code: 'ENOENT' });
    }
  });

  it('NUL and control bytes, invalid UTF-8 and over-long paths are refused cleanly and create nothing', async () => {
    const bad = ['docs/readme.txt\0../../outside/secret.txt', 'new\nline.txt', 'tab\there', 'bell\x07', 'del\x7f', 'esc\x1b[31m', 'ok\0', 'x'.repeat(5000), 'd/'.repeat(3000) + 'f'];
    for (const path of bad) {
      const what = JSON.stringify(path.slice(0, 40));
      expectStatus(await req({ kind: 'stat', path }), StatusCode.NO_SUCH_FILE, `STAT ${what}`);
      const o = await req({ kind: 'open', path, pflags: WRITE | CREAT, attrs: {} });
      assert.ok(o.kind === 'status' && o.code !== StatusCode.OK, `OPEN ${what}: ${show(o)}`);
      assert.ok((await req({ kind: 'mkdir', path, attrs: {} })).kind === 'status');
      const mv = await req({ kind: 'rename', oldPath: 'docs/readme.txt', newPath: path });
      assert.ok(mv.kind === 'status' && mv.code !== StatusCode.OK, `RENAME to ${what}: ${show(mv)}`);
    }
    const long = await req({ kind: 'open', path: 'n'.repeat(300), pflags: WRITE | CREAT, attrs: {} });
    assert.ok(long.kind === 'status' && long.code !== StatusCode.OK, `a 300-byte name: ${show(long)}`);
    for (const bytes of [Buffer.from([0xc0, 0xae, 0xc0, 0xae, 0x2f, 0x78]), Buffer.from('bad\xff\xfename', 'latin1'), Buffer.from([0xe2, 0x82])]) {
      for (const type of [PacketType.OPEN, PacketType.MKDIR]) {
        const id = s.id();
        const fields = type === PacketType.OPEN ? [id, bytes, WRITE | CREAT, 0] : [id, bytes, 0];
        const r = await s.sendBytes(id, rawPacket(type, fields));
        assert.ok(r.kind === 'status' && (r.code === StatusCode.NO_SUCH_FILE || r.code === StatusCode.BAD_MESSAGE), `invalid UTF-8 ${bytes.toString('hex')}: ${show(r)}`);
      }
    }
    // A 300 KB path cannot fit in a packet (256 KiB at most): the session ends, nothing is made.
    const x = await login();
    x.writeRaw(rawPacket(PacketType.OPEN, [1, 'p'.repeat(300 * 1024), WRITE | CREAT, 0]));
    await x.closed;
    const names = await readdir(home);
    assert.deepEqual(names.filter((n) => /[\x00-\x1f\x7f\ufffd]/.test(n) || n.length > 255 || n.startsWith('nnn') || n.startsWith('ppp')), []);
    assert.equal(await readFile(h('docs/readme.txt'), 'utf8'), 'readme');
  });

  it('FIFOs and devices are refused without blocking the server', async () => {
    const t0 = Date.now();
    const opens = [];
    for (let i = 0; i < 8; i++) opens.push(req({ kind: 'open', path: 'fifo', pflags: i % 2 ? READ : WRITE, attrs: {} }));
    opens.push(req({ kind: 'open', path: 'null', pflags: READ, attrs: {} }), req({ kind: 'open', path: 'null', pflags: WRITE | TRUNC, attrs: {} }));
    opens.push(req({ kind: 'check-file-name', path: 'fifo', algorithms: ['md5'], start: 0, length: 0, blockSize: 0 }));
    for (const r of await Promise.all(opens)) assert.ok(r.kind === 'status' && r.code !== StatusCode.OK, show(r));
    const f = await s.open('docs/readme.txt', READ);
    assert.equal((await s.read(f, 0, 10))?.toString(), 'readme');
    await s.close(f);
    assert.ok(Date.now() - t0 < 3000, `answered in ${Date.now() - t0} ms`);
    const st = await req({ kind: 'stat', path: 'fifo' });
    assert.equal(st.kind, 'attrs', 'a FIFO may be described, not opened');
  });

  it("handles of another session (same user or another user) reach nothing; the owner's handle keeps working", async () => {
    const a = await login();
    const file = await a.open('docs/readme.txt', READ | WRITE);
    const dir = await a.opendir('docs');
    for (const user of ['alice', 'bob']) {
      const uses: RequestBody[] = [
        { kind: 'read', handle: file, offset: 0, length: 100 },
        { kind: 'write', handle: file, offset: 0, data: Buffer.from('PWNED') },
        { kind: 'fsetstat', handle: file, attrs: { permissions: 0o4777, size: 0 } },
        { kind: 'fstat', handle: file },
        { kind: 'readdir', handle: dir },
        { kind: 'close', handle: file },
        { kind: 'close', handle: dir },
      ];
      for (const body of uses) {
        // A fresh session each time: a FAILURE status; never data, never a change.
        const b = await login(user);
        const r = await b.request(body);
        assert.ok(r.kind === 'status' && r.code === StatusCode.FAILURE, `${user}: ${body.kind} with a foreign handle: ${show(r)}`);
      }
    }
    assert.equal((await a.read(file, 0, 100))?.toString(), 'readme');
    assert.ok((await a.list('docs')).names.includes('readme.txt'));
    await a.close(file);
    await a.close(dir);
    assert.equal(await readFile(h('docs/readme.txt'), 'utf8'), 'readme');
    assert.equal((await stat(h('docs/readme.txt'))).mode & 0o7777, 0o644);
  });

  it('SETSTAT/FSETSTAT drop setuid, setgid and sticky bits, refuse ownership changes, never chmod the home', async () => {
    await writeFile(h('perm.txt'), 'perm', { mode: 0o600 });
    await mkdir(h('perm-dir'));
    const me = await stat(h('perm.txt'));
    for (const [mode, want] of [[0o4755, 0o755], [0o2750, 0o750], [0o6777, 0o777], [0o1644, 0o644]] as const) {
      expectStatus(await req({ kind: 'setstat', path: 'perm.txt', attrs: { permissions: mode } }), StatusCode.OK, `chmod ${mode.toString(8)}`);
      assert.equal((await stat(h('perm.txt'))).mode & 0o7777, want, `SETSTAT ${mode.toString(8)}`);
    }
    expectStatus(await req({ kind: 'setstat', path: 'perm-dir', attrs: { permissions: 0o1777 } }), StatusCode.OK, 'chmod dir');
    assert.equal((await stat(h('perm-dir'))).mode & 0o7777, 0o777);
    const f = await s.open('perm.txt', READ | WRITE);
    expectStatus(await req({ kind: 'fsetstat', handle: f, attrs: { permissions: 0o4700 } }), StatusCode.OK, 'fchmod');
    assert.equal((await stat(h('perm.txt'))).mode & 0o7777, 0o700);
    for (const attrs of [{ uid: me.uid + 1234, gid: me.gid }, { uid: me.uid, gid: me.gid + 1234 }, { uid: 4321, gid: 4321 }]) {
      const r = await req({ kind: 'setstat', path: 'perm.txt', attrs });
      assert.ok(r.kind === 'status' && r.code !== StatusCode.OK, `chown ${JSON.stringify(attrs)}: ${show(r)}`);
      const rf = await req({ kind: 'fsetstat', handle: f, attrs });
      assert.ok(rf.kind === 'status' && rf.code !== StatusCode.OK, `fchown ${JSON.stringify(attrs)}: ${show(rf)}`);
    }
    await s.close(f);
    const after = await stat(h('perm.txt'));
    assert.equal(after.uid, me.uid);
    assert.equal(after.gid, me.gid);
    // OPEN and MKDIR with setuid/setgid bits in their attributes are masked too.
    await s.close(await s.open('suid-new.txt', WRITE | CREAT, { permissions: 0o4755 }));
    assert.equal((await stat(h('suid-new.txt'))).mode & 0o7000, 0);
    expectStatus(await req({ kind: 'mkdir', path: 'sgid-dir', attrs: { permissions: 0o2755 } }), StatusCode.OK, 'mkdir');
    assert.equal((await stat(h('sgid-dir'))).mode & 0o7000, 0);
    const homeMode = (await stat(home)).mode & 0o7777;
    for (const path of ['/', '.', '..', '/..', 'docs/..']) {
      const r = await req({ kind: 'setstat', path, attrs: { permissions: 0o000 } });
      assert.ok(r.kind === 'status' && r.code !== StatusCode.OK, `chmod ${path}: ${show(r)}`);
    }
    assert.equal((await stat(home)).mode & 0o7777, homeMode, 'the home keeps its mode');
  });

  it('SYMLINK is refused while symlinks are off, in either argument order', async () => {
    for (const [first, second] of [['docs/readme.txt', 'l-off-1'], ['l-off-2', 'docs/readme.txt'], [join(root, 'outside'), 'l-off-3'], ['../../outside', 'l-off-4']]) {
      const r = await req({ kind: 'symlink', first: first!, second: second! });
      assert.ok(r.kind === 'status' && r.code !== StatusCode.OK, `SYMLINK ${first} ${second}: ${show(r)}`);
    }
    assert.deepEqual((await readdir(home)).filter((n) => n.startsWith('l-off')), []);
  });

  it('OpenSSH sftp: cd/get/put/ls through "..", absolute paths and outside links reach nothing', async () => {
    const local = await mkdtemp(join(tmpdir(), 'coffer-jail-local-'));
    try {
      const key = await makeClientKey(local, 'id_ed25519');
      const user = 'carol';
      await ts.addUser(user, { keys: [key.publicLine] });
      const carolHome = join(root, 'homes', user);
      await symlink(join(root, 'outside'), join(carolHome, 'out'));
      await symlink('..', join(carolHome, 'up'));
      await writeFile(join(local, 'upload.txt'), 'upload');
      const target: OpenSshTarget = { port: ts.port, user, key, cwd: local };
      const r = await sftpBatch(target, [
        '-cd ../../..',
        'pwd',
        '-get /etc/passwd',
        '-get ../../outside/secret.txt',
        '-get out/secret.txt',
        '-get up/alice/docs/readme.txt',
        '-ls -la out',
        '-ls up',
        '-ls up/alice',
        '-cd out',
        '-put upload.txt out/planted.txt',
        '-put upload.txt up/planted.txt',
        '-put upload.txt ../../planted-top.txt',
        '-rename up/bob/bob.txt stolen.txt',
        '-rm up/bob/bob.txt',
        '-chmod 777 out',
        'ls -la',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Remote working directory: \/\n/);
      const all = r.stdout + r.stderr;
      assert.ok(!all.includes(SECRET) && !all.includes(root), all);
      const refusals = [
        /File "\/etc\/passwd" not found/,
        /File "\/\.\.\/\.\.\/outside\/secret\.txt" not found/,
        /File "\/out\/secret\.txt" not found/,
        /File "\/up\/alice\/docs\/readme\.txt" not found/,
        /Can't ls: "\/up\/alice" not found/,
        /dest open "\/out\/planted\.txt": No such file/,
        /dest open "\/up\/planted\.txt": No such file/,
        /remote rename "\/up\/bob\/bob\.txt" to "\/stolen\.txt": No such file/,
        /remote delete \/up\/bob\/bob\.txt: No such file/,
        /remote setstat "\/out": No such file/,
      ];
      for (const re of refusals) assert.match(r.stderr, re);
      assert.deepEqual((await readdir(local)).filter((n) => !n.startsWith('.batch') && !n.startsWith('id_')).sort(), ['upload.txt']);
      assert.equal(await readFile(join(carolHome, 'planted-top.txt'), 'utf8'), 'upload', '"../../x" lands in the home');
      await assert.rejects(stat(join(root, 'homes', 'planted.txt')), { code: 'ENOENT' });
    } finally {
      await rm(local, { recursive: true, force: true });
    }
  });

  it('no reply ever named a host path', () => {
    assert.ok(replies.length > 200, `${replies.length} replies checked`);
    for (const r of replies) {
      const text = r.kind === 'status' ? r.message : r.kind === 'name' ? r.entries.map((e) => e.filename + ' ' + e.longname).join('\n') : '';
      assert.ok(!text.includes(root) && !text.includes('/homes/'), `host path in ${show(r)}`);
    }
  });

  it('the canaries outside the home are unchanged and nothing was created next to the home', async () => {
    const now = { ...(await snapshot(join(root, 'outside'))), ...prefix('homes/alice2', await snapshot(join(root, 'homes', 'alice2'))), ...prefix('homes/bob', await snapshot(join(root, 'homes', 'bob'))) };
    assert.deepEqual(now, outsideSnapshot);
    const entries = await outsideEntries();
    assert.deepEqual(entries.root, entriesBefore.root);
    assert.deepEqual(entries.homes.filter((n) => n !== 'carol'), entriesBefore.homes);
    assert.equal(await readFile(join(root, 'canary-root.txt'), 'utf8'), SECRET + ' root');
    await assert.rejects(stat('/tmp/coffer-escape-newdir'), { code: 'ENOENT' });
  });
});

describe('the jail with symlinks on', () => {
  let ts: TestServer;
  let home: string;
  let s: RawSftp;
  before(async () => {
    ts = await startTestServer({ router: defaultRouter(), settings: { symlinks: true } });
    await ts.addUser('dave', { password: PW });
    home = join(ts.root, 'homes', 'dave');
    await mkdir(join(ts.root, 'outside'));
    await writeFile(join(ts.root, 'outside', 'secret.txt'), SECRET);
    await mkdir(join(home, 'docs'));
    await writeFile(join(home, 'docs', 'readme.txt'), 'readme');
    s = await RawSftp.connect(ts.port, { username: 'dave', password: PW });
  });
  after(async () => {
    s.client.end();
    await ts.close();
  });

  /** Asserts the link's stored target, resolved on the host, stays inside the home. */
  const staysInside = async (link: string) => {
    const text = await readlink(join(home, link));
    const real = resolve(dirname(join(home, link)), text);
    assert.ok(real === home || real.startsWith(home + '/'), `${link} -> ${text} leaves the home`);
    return text;
  };

  it('creates links to targets inside the home (OpenSSH argument order), stored relative', async () => {
    expectStatus(await s.request({ kind: 'symlink', first: '/docs/readme.txt', second: '/l1' }), StatusCode.OK, 'SYMLINK');
    assert.ok(!(await staysInside('l1')).startsWith('/'), 'stored relative');
    const f = await s.open('l1', READ);
    assert.equal((await s.read(f, 0, 10))?.toString(), 'readme');
    await s.close(f);
    assert.equal(nameOf(await s.request({ kind: 'readlink', path: 'l1' })), 'docs/readme.txt', 'an absolute target is stored and read back relative');
  });

  it('targets spelled to lead out are confined: the link points inside the home (or is refused)', async (t) => {
    const outsideAbs = join(ts.root, 'outside', 'secret.txt');
    const spellings = ['../../outside/secret.txt', '/../../../outside/secret.txt', outsideAbs, '/etc/passwd', '../../..', '..\\..\\outside'];
    let i = 0;
    for (const target of spellings) {
      const link = `esc-${i++}`;
      const r = await s.request({ kind: 'symlink', first: target, second: link });
      if (r.kind === 'status' && r.code === StatusCode.OK) {
        t.diagnostic(`SYMLINK ${target} -> stored ${await staysInside(link)}`);
        const st = await s.request({ kind: 'stat', path: link });
        assert.ok(!(st.kind === 'attrs' && st.attrs.size === SECRET.length), `STAT ${link} (${target}) must not see the secret`);
        const o = await s.request({ kind: 'open', path: link, pflags: READ, attrs: {} });
        if (o.kind === 'handle') {
          const data = await s.read(o.handle, 0, 100);
          assert.notEqual(data?.toString(), SECRET);
          await s.close(o.handle);
        }
      } else assert.equal(r.kind, 'status');
    }
  });

  it('a relative link moved to a shallower folder cannot lead out at access time (catalog 1.8)', async () => {
    expectStatus(await s.request({ kind: 'mkdir', path: 'a', attrs: {} }), StatusCode.OK, 'mkdir a');
    expectStatus(await s.request({ kind: 'mkdir', path: 'a/b', attrs: {} }), StatusCode.OK, 'mkdir a/b');
    expectStatus(await s.request({ kind: 'symlink', first: '../..', second: 'a/b/x' }), StatusCode.OK, 'ln -s ../.. a/b/x');
    expectStatus(await s.request({ kind: 'rename', oldPath: 'a/b/x', newPath: 'x' }), StatusCode.OK, 'mv a/b/x x');
    {
      // Now x -> ../.. from the home's top, i.e. above the home: every access must fail.
      for (const path of ['x', 'x/outside/secret.txt', 'x/canary.txt']) {
        const st = await s.request({ kind: 'stat', path });
        expectStatus(st, StatusCode.NO_SUCH_FILE, `STAT ${path}`);
        const o = await s.request({ kind: 'open', path, pflags: READ, attrs: {} });
        assert.ok(o.kind === 'status', `OPEN ${path}: ${show(o)}`);
      }
      expectStatus(await s.request({ kind: 'opendir', path: 'x' }), StatusCode.NO_SUCH_FILE, 'OPENDIR x');
      expectStatus(await s.request({ kind: 'readlink', path: 'x' }), StatusCode.NO_SUCH_FILE, 'READLINK x');
      const w = await s.request({ kind: 'open', path: 'x/outside/planted.txt', pflags: WRITE | CREAT, attrs: {} });
      assert.ok(w.kind === 'status' && w.code !== StatusCode.OK, show(w));
    }
    await assert.rejects(stat(join(ts.root, 'outside', 'planted.txt')), { code: 'ENOENT' });
    assert.equal(await readFile(join(ts.root, 'outside', 'secret.txt'), 'utf8'), SECRET);
  });
});

function prefix(p: string, o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [`${p}/${k}`, v]));
}
