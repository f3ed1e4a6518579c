/**
 * A read-only SFTP session (serveSftp's readOnly): the dispatcher refuses every request whose
 * operation writes, from the table's `writes` flag, before the Vfs is asked; reads work as usual.
 * OPEN counts as a write when it has WRITE, APPEND, CREAT or TRUNC, as OpenSSH's sftp-server -R.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { SftpReply } from '../../src/sftp/packets/packet.js';
import { OpenFlags, StatusCode } from '../../src/sftp/constants.js';
import { OPERATIONS, writes } from '../../src/sftp/dispatcher.js';
import { serveSftp } from '../../src/sftp/sftp-session.js';
import { LocalVfs } from '../../src/vfs/local-vfs.js';
import type { Vfs } from '../../src/vfs/vfs.js';
import { TestChannel, type Body } from '../support/sftp-channel.js';

/** The Vfs with every call's method name recorded. */
function recording(vfs: Vfs, calls: string[]): Vfs {
  return new Proxy(vfs, {
    get(target, key) {
      const value = Reflect.get(target, key, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(key));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

const handleOf = (r: SftpReply): Buffer => {
  assert.equal(r.kind, 'handle', JSON.stringify(r));
  return (r as { handle: Buffer }).handle;
};

describe('read-only SFTP session', () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'coffer-read-only-'));
    await writeFile(join(home, 'f.txt'), 'hello');
    await mkdir(join(home, 'd'));
  });
  after(() => rm(home, { recursive: true, force: true }));

  async function session(readOnly: boolean): Promise<{ channel: TestChannel; calls: string[]; end: () => Promise<void> }> {
    const calls: string[] = [];
    const vfs = recording(await LocalVfs.create(home, { symlinks: true }), calls);
    const channel = new TestChannel();
    const s = serveSftp(channel, { vfs, user: 'u', log: pino({ level: 'silent' }), maxHandles: 8, readOnly });
    await channel.init();
    return { channel, calls, end: () => (channel.destroy(), s.done) };
  }

  it('the writing kinds of the table are exactly these (a new one must choose)', () => {
    const fixed = Object.entries(OPERATIONS).filter(([, op]) => op!.writes === true).map(([kind]) => kind).sort();
    assert.deepEqual(fixed, ['copy-data', 'fsetstat', 'fsync', 'mkdir', 'posix-rename', 'remove', 'rename', 'rmdir', 'setstat', 'symlink', 'write']);
    const open = (pflags: number) => writes(OPERATIONS.open!, { kind: 'open', id: 1, path: '/f', pflags, attrs: {} });
    assert.equal(open(OpenFlags.READ), false);
    for (const flag of [OpenFlags.WRITE, OpenFlags.APPEND, OpenFlags.CREAT, OpenFlags.TRUNC]) assert.equal(open(OpenFlags.READ | flag), true, `flag ${flag}`);
  });

  it('refuses every writing request with PERMISSION_DENIED, without asking the Vfs', async () => {
    const { channel, calls, end } = await session(true);
    const mode = (await stat(join(home, 'f.txt'))).mode;
    const h = handleOf(await channel.request({ kind: 'open', path: '/f.txt', pflags: OpenFlags.READ, attrs: {} }));
    calls.length = 0;
    const refused: Body[] = [
      ...[OpenFlags.WRITE, OpenFlags.APPEND, OpenFlags.CREAT, OpenFlags.TRUNC, OpenFlags.CREAT | OpenFlags.EXCL].map(
        (flag): Body => ({ kind: 'open', path: '/new.txt', pflags: OpenFlags.READ | flag, attrs: {} }),
      ),
      { kind: 'open', path: '/f.txt', pflags: OpenFlags.WRITE | OpenFlags.TRUNC, attrs: {} },
      { kind: 'write', handle: h, offset: 0, data: Buffer.from('x') },
      { kind: 'fsetstat', handle: h, attrs: { permissions: 0o600 } },
      { kind: 'fsync', handle: h },
      { kind: 'setstat', path: '/f.txt', attrs: { size: 0 } },
      { kind: 'mkdir', path: '/e', attrs: {} },
      { kind: 'rmdir', path: '/d' },
      { kind: 'remove', path: '/f.txt' },
      { kind: 'rename', oldPath: '/f.txt', newPath: '/g.txt' },
      { kind: 'posix-rename', oldPath: '/f.txt', newPath: '/g.txt' },
      { kind: 'symlink', first: '/f.txt', second: '/l' },
      { kind: 'copy-data', readHandle: h, readOffset: 0, readLength: 0, writeHandle: h, writeOffset: 5 },
    ];
    for (const req of refused) {
      const r = await channel.request(req);
      assert.equal(r.kind, 'status', `${req.kind}: ${JSON.stringify(r)}`);
      assert.equal((r as { code: number }).code, StatusCode.PERMISSION_DENIED, req.kind);
      assert.equal((r as { message: string }).message, 'This session is read-only');
    }
    assert.deepEqual(calls, [], 'no writing request reached the Vfs');
    assert.deepEqual((await readdir(home)).sort(), ['d', 'f.txt']);
    assert.equal(await readFile(join(home, 'f.txt'), 'utf8'), 'hello');
    assert.equal((await stat(join(home, 'f.txt'))).mode, mode);
    await end();
  });

  it('serves reads: OPEN for reading, READ, FSTAT, STAT, LSTAT, listings, statvfs, check-file', async () => {
    const { channel, end } = await session(true);
    const h = handleOf(await channel.request({ kind: 'open', path: '/f.txt', pflags: OpenFlags.READ, attrs: {} }));
    const data = await channel.request({ kind: 'read', handle: h, offset: 0, length: 100 });
    assert.equal((data as { data: Buffer }).data.toString(), 'hello');
    assert.equal((await channel.request({ kind: 'fstat', handle: h })).kind, 'attrs');
    assert.equal((await channel.request({ kind: 'stat', path: '/f.txt' })).kind, 'attrs');
    assert.equal((await channel.request({ kind: 'lstat', path: '/d' })).kind, 'attrs');
    assert.equal((await channel.request({ kind: 'realpath', path: 'd/..' })).kind, 'name');
    const dir = handleOf(await channel.request({ kind: 'opendir', path: '/' }));
    const listing = await channel.request({ kind: 'readdir', handle: dir });
    assert.deepEqual((listing as { entries: Array<{ filename: string }> }).entries.map((e) => e.filename).sort(), ['d', 'f.txt']);
    assert.equal((await channel.request({ kind: 'statvfs', path: '/' })).kind, 'extended-reply');
    const sum = await channel.request({ kind: 'check-file-name', path: '/f.txt', algorithms: ['sha256'], start: 0, length: 0, blockSize: 0 });
    assert.equal(sum.kind, 'extended-reply');
    for (const handle of [h, dir]) assert.equal((await channel.request({ kind: 'close', handle }) as { code: number }).code, StatusCode.OK);
    await end();
  });

  it('without readOnly the same writes go through (the refusal above is the option, not the disk)', async () => {
    const { channel, calls, end } = await session(false);
    const r = await channel.request({ kind: 'mkdir', path: '/e', attrs: {} });
    assert.equal((r as { code: number }).code, StatusCode.OK);
    assert.deepEqual(calls, ['mkdir']);
    await rm(join(home, 'e'), { recursive: true });
    await end();
  });
});
