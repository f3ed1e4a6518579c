/**
 * The Vfs contract: one suite run against every implementation (Hono's shared router suite), so a
 * next backend starts from a spec. Each case sets up its files through the Vfs itself and checks
 * behaviour and errors as a client sees them: error codes and messages through toVfsError (the
 * one mapping SFTP and scp share), never a host path. LocalVfs runs on a fresh temp folder with
 * symlinks off; MemoryVfs is the contract in memory. Jail escapes and symlinks: jail.test.ts and
 * local-vfs.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalVfs } from '../../src/vfs/local-vfs.js';
import { MAX_MEMORY_FILE_BYTES } from '../../src/vfs/memory-nodes.js';
import { MemoryVfs } from '../../src/vfs/memory-vfs.js';
import type { OpenFlags, SetAttrs, Vfs } from '../../src/vfs/vfs.js';
import { toVfsError, type VfsErrorCode } from '../../src/vfs/vfs-error.js';

/** One implementation: a fresh, empty Vfs per call. */
interface Backend {
  name: string;
  make(): Promise<Vfs>;
  cleanup(): void;
}

/** LocalVfs with its metadata calls on the event loop (sync, what auto picks on a local disk) or the thread pool (async: NFS). */
function localBackend(metadataIo: 'sync' | 'async'): Backend {
  const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'coffer-contract-')));
  let n = 0;
  return {
    name: `LocalVfs (metadataIo ${metadataIo})`,
    async make() {
      const home = join(tmp, `home${n++}`);
      mkdirSync(home);
      return LocalVfs.create(home, { symlinks: false, metadataIo });
    },
    cleanup: () => rmSync(tmp, { recursive: true, force: true }),
  };
}

const memoryBackend: Backend = { name: 'MemoryVfs', make: async () => new MemoryVfs(), cleanup: () => undefined };

const F = (...names: Array<keyof OpenFlags>): OpenFlags => {
  const f: OpenFlags = { read: false, write: false, append: false, creat: false, trunc: false, excl: false };
  for (const name of names) f[name] = true;
  return f;
};

/** Asserts that `p` fails as a client would see `code` with `message`, with no host path in it. */
async function fails(p: Promise<unknown>, code: VfsErrorCode, message?: string): Promise<void> {
  let caught: unknown = null;
  await p.then(
    () => assert.fail(`expected ${code}, but it succeeded`),
    (err: unknown) => (caught = err),
  );
  const e = toVfsError(caught);
  assert.equal(e.code, code, `expected ${code}, got ${e.code} (${String(caught)})`);
  if (message !== undefined) assert.equal(e.message, message);
  assert.ok(!e.message.includes(tmpdir()), `a host path in ${e.message}`);
}

async function put(vfs: Vfs, path: string, text: string, attrs?: SetAttrs): Promise<void> {
  const f = await vfs.open(path, F('write', 'creat', 'trunc'), attrs);
  await f.write(0, Buffer.from(text));
  await f.close();
}

async function get(vfs: Vfs, path: string): Promise<string> {
  const f = await vfs.open(path, F('read'));
  try {
    const chunks: Buffer[] = [];
    for (let off = 0, b = await f.read(0, 3); b; off += b.length, b = await f.read(off, 3)) chunks.push(b);
    return Buffer.concat(chunks).toString();
  } finally {
    await f.close();
  }
}

async function listing(vfs: Vfs, path: string): Promise<string[]> {
  const dir = await vfs.openDir(path);
  const names: string[] = [];
  for (let batch = await dir.next(2); batch; batch = await dir.next(2)) {
    assert.ok(batch.length <= 2);
    for (const e of batch) names.push(`${e.name}${e.stats.isDirectory() ? '/' : ''}`);
  }
  await dir.close();
  return names.sort();
}

/** Every implementation starts here: /f.txt ("hello"), /d/ holding /d/g.txt ("inner"). */
async function seeded(backend: Backend): Promise<Vfs> {
  const vfs = await backend.make();
  await put(vfs, '/f.txt', 'hello');
  await vfs.mkdir('/d');
  await put(vfs, '/d/g.txt', 'inner');
  return vfs;
}

for (const backend of [localBackend('sync'), localBackend('async'), memoryBackend]) {
  describe(`Vfs contract: ${backend.name}`, () => {
    let prevUmask: number;
    // LocalVfs's new files are subject to the umask; the contract is stated at 022 (MemoryVfs has none).
    before(() => (prevUmask = process.umask(0o022)));
    after(() => (process.umask(prevUmask), backend.cleanup()));
    const fresh = () => seeded(backend);

    it('the home is "/", and ".." stops there', async () => {
      const vfs = await fresh();
      const home = await vfs.stat('/');
      assert.ok(home.isDirectory());
      for (const p of ['', '.', '..', '/../..', 'd/../..']) assert.equal((await vfs.stat(p)).ino, home.ino, p);
      assert.equal(await get(vfs, '/../../f.txt'), 'hello');
      assert.equal(await get(vfs, 'd/../f.txt'), 'hello');
    });

    it('stat and lstat: kind, size, permissions; missing names are NOT_FOUND', async () => {
      const vfs = await fresh();
      const st = await vfs.lstat('/f.txt');
      assert.ok(st.isFile() && !st.isDirectory() && !st.isSymbolicLink());
      assert.equal(st.size, 5);
      assert.equal(st.mode & 0o777, 0o644);
      assert.ok((await vfs.stat('/d')).isDirectory());
      for (const p of ['/nope', '/nope/x', '/f.txt/x', '/d/\u0001', 'a\u0000b']) {
        await fails(vfs.stat(p), 'NOT_FOUND', 'No such file');
        await fails(vfs.lstat(p), 'NOT_FOUND', 'No such file');
      }
    });

    it('OPEN: creates with the given permissions, refuses what is missing or not a file', async () => {
      const vfs = await fresh();
      await put(vfs, '/new.txt', 'x', { permissions: 0o640 });
      assert.equal((await vfs.stat('/new.txt')).mode & 0o777, 0o640);
      await fails(vfs.open('/missing', F('read')), 'NOT_FOUND', 'No such file');
      await fails(vfs.open('/nope/new', F('write', 'creat')), 'NOT_FOUND', 'No such file');
      await fails(vfs.open('/f.txt/new', F('write', 'creat')), 'NOT_FOUND', 'No such file');
      await fails(vfs.open('/f.txt', F('write', 'creat', 'excl')), 'EXISTS', 'File exists');
      for (const p of ['/', '/d']) {
        await fails(vfs.open(p, F('read')), 'NOT_A_FILE', 'Is a directory');
        await fails(vfs.open(p, F('write', 'creat')), 'NOT_A_FILE', 'Is a directory');
      }
      assert.equal(await get(vfs, '/f.txt'), 'hello', 'EXCL left the file alone');
    });

    it('reads and writes by offset: EOF is null, holes are zeros, an empty write extends nothing', async () => {
      const vfs = await fresh();
      const f = await vfs.open('/f.txt', F('read', 'write'));
      assert.equal((await f.read(1, 3))?.toString(), 'ell');
      assert.equal((await f.read(3, 100))?.toString(), 'lo');
      assert.equal(await f.read(5, 10), null);
      assert.equal(await f.read(100, 10), null);
      assert.equal(await f.readInto(Buffer.alloc(4), 0, 4, 100), 0);
      const buf = Buffer.alloc(8, 0x2e);
      assert.equal(await f.readInto(buf, 2, 4, 0), 4);
      assert.equal(buf.toString(), '..hell..');
      await f.write(100, Buffer.alloc(0));
      assert.equal((await f.stat()).size, 5);
      await f.write(7, Buffer.from('!'));
      assert.equal((await f.stat()).size, 8);
      await f.write(0, Buffer.from('J'));
      await f.close();
      assert.equal(await get(vfs, '/f.txt'), 'Jello\0\0!');
    });

    it('TRUNC empties, APPEND writes at the end whatever the offset', async () => {
      const vfs = await fresh();
      await (await vfs.open('/f.txt', F('write', 'trunc'))).close();
      assert.equal((await vfs.stat('/f.txt')).size, 0);
      await put(vfs, '/a.txt', 'ab');
      const f = await vfs.open('/a.txt', F('write', 'append'));
      await f.write(0, Buffer.from('cd'));
      await f.write(0, Buffer.from('e'));
      await f.close();
      assert.equal(await get(vfs, '/a.txt'), 'abcde');
    });

    it('an open handle keeps its file through a rename and a removal', async () => {
      const vfs = await fresh();
      const f = await vfs.open('/f.txt', F('read'));
      await vfs.rename('/f.txt', '/moved.txt', false);
      assert.equal((await f.read(0, 5))?.toString(), 'hello');
      await vfs.remove('/moved.txt');
      assert.equal((await f.read(0, 5))?.toString(), 'hello');
      assert.equal((await f.stat()).size, 5);
      await f.close();
      await fails(vfs.stat('/moved.txt'), 'NOT_FOUND');
    });

    it('FSETSTAT: size cuts and extends with zeros, permissions and times change', async () => {
      const vfs = await fresh();
      const f = await vfs.open('/f.txt', F('read', 'write'));
      await f.setStat({ size: 2 });
      await f.setStat({ size: 4, permissions: 0o600, atime: 1_000_000, mtime: 2_000_000 });
      const st = await f.stat();
      assert.deepEqual([st.size, st.mode & 0o777, st.atimeMs, st.mtimeMs], [4, 0o600, 1_000_000_000, 2_000_000_000]);
      await fails(f.setStat({ uid: st.uid + 1 }), 'DENIED', 'Changing ownership is not allowed');
      await f.close();
      assert.equal(await get(vfs, '/f.txt'), 'he\0\0');
    });

    it('listings: every entry once with its lstat, in batches, then null; NOT_FOUND, NOT_A_DIR', async () => {
      const vfs = await fresh();
      for (const n of ['1', '2', '3']) await put(vfs, `/d/${n}`, n);
      assert.deepEqual(await listing(vfs, '/'), ['d/', 'f.txt']);
      assert.deepEqual(await listing(vfs, '/d'), ['1', '2', '3', 'g.txt']);
      const dir = await vfs.openDir('/d');
      const names: string[] = [];
      for (let b = await dir.names(3); b; b = await dir.names(3)) names.push(...b);
      await dir.close();
      assert.deepEqual(names.sort(), ['1', '2', '3', 'g.txt']);
      await fails(vfs.openDir('/nope'), 'NOT_FOUND', 'No such file');
      await fails(vfs.openDir('/f.txt'), 'NOT_A_DIR', 'Not a directory');
    });

    it('MKDIR: creates with the given permissions; existing names are EXISTS', async () => {
      const vfs = await fresh();
      await vfs.mkdir('/d/e', { permissions: 0o700 });
      const st = await vfs.stat('/d/e');
      assert.ok(st.isDirectory());
      assert.equal(st.mode & 0o777, 0o700);
      await vfs.mkdir('/e2');
      assert.equal((await vfs.stat('/e2')).mode & 0o777, 0o755);
      for (const p of ['/', '/d', '/f.txt']) await fails(vfs.mkdir(p), 'EXISTS', 'File exists');
      await fails(vfs.mkdir('/nope/e'), 'NOT_FOUND', 'No such file');
    });

    it('RMDIR: empty folders only; never the home', async () => {
      const vfs = await fresh();
      await fails(vfs.rmdir('/d'), 'FAILURE', 'Directory not empty');
      await fails(vfs.rmdir('/f.txt'), 'NOT_FOUND', 'No such file');
      await fails(vfs.rmdir('/nope'), 'NOT_FOUND', 'No such file');
      await fails(vfs.rmdir('/'), 'DENIED', 'The home folder cannot be removed');
      await vfs.remove('/d/g.txt');
      await vfs.rmdir('/d');
      await fails(vfs.stat('/d'), 'NOT_FOUND');
    });

    it('REMOVE: files only', async () => {
      const vfs = await fresh();
      await vfs.remove('/f.txt');
      await fails(vfs.stat('/f.txt'), 'NOT_FOUND');
      await fails(vfs.remove('/f.txt'), 'NOT_FOUND', 'No such file');
      await fails(vfs.remove('/d'), 'NOT_A_FILE', 'Is a directory');
      await fails(vfs.remove('/'), 'NOT_A_FILE', 'Is a directory');
      assert.equal(await get(vfs, '/d/g.txt'), 'inner');
    });

    it('RENAME never overwrites; posix-rename (overwrite) does', async () => {
      const vfs = await fresh();
      await fails(vfs.rename('/f.txt', '/d/g.txt', false), 'EXISTS', 'File exists');
      await fails(vfs.rename('/f.txt', '/f.txt', false), 'EXISTS', 'File exists');
      await fails(vfs.rename('/d', '/f.txt', false), 'EXISTS', 'File exists');
      assert.equal(await get(vfs, '/d/g.txt'), 'inner');
      await vfs.rename('/f.txt', '/f.txt', true);
      assert.equal(await get(vfs, '/f.txt'), 'hello');
      await vfs.rename('/f.txt', '/d/g.txt', true);
      assert.equal(await get(vfs, '/d/g.txt'), 'hello');
      await fails(vfs.stat('/f.txt'), 'NOT_FOUND');
      await vfs.rename('/d', '/e', false);
      assert.deepEqual(await listing(vfs, '/'), ['e/']);
      assert.equal(await get(vfs, '/e/g.txt'), 'hello');
    });

    it('RENAME refusals: missing, the home, into itself, kind mismatches, non-empty targets', async () => {
      const vfs = await fresh();
      await vfs.mkdir('/empty');
      for (const overwrite of [false, true]) {
        await fails(vfs.rename('/nope', '/x', overwrite), 'NOT_FOUND', 'No such file');
        await fails(vfs.rename('/f.txt', '/nope/x', overwrite), 'NOT_FOUND', 'No such file');
        await fails(vfs.rename('/', '/x', overwrite), 'DENIED', 'The home folder cannot be renamed');
        await fails(vfs.rename('/f.txt', '/', overwrite), 'DENIED', 'The home folder cannot be renamed');
        await fails(vfs.rename('/d', '/d/sub', overwrite), 'FAILURE', 'Invalid argument');
      }
      await fails(vfs.rename('/f.txt', '/empty', true), 'NOT_A_FILE', 'Is a directory');
      await fails(vfs.rename('/empty', '/f.txt', true), 'NOT_FOUND', 'No such file');
      await fails(vfs.rename('/empty', '/d', true), 'FAILURE', 'Directory not empty');
      await fails(vfs.rename('/d/g.txt', '/d', true), 'FAILURE', 'Directory not empty'); // onto its own folder
      await fails(vfs.rename('/d', '/f.txt/x', false), 'NOT_FOUND', 'No such file'); // a file as the new folder
      await vfs.rename('/d', '/empty', true);
      assert.deepEqual(await listing(vfs, '/'), ['empty/', 'f.txt']);
      assert.deepEqual(await listing(vfs, '/empty'), ['g.txt']);
    });

    it('SETSTAT by path: size, permissions, times; ownership and the home are refused', async () => {
      const vfs = await fresh();
      await vfs.setStat('/f.txt', { size: 3, permissions: 0o604, atime: 5, mtime: 7 });
      const st = await vfs.stat('/f.txt');
      assert.deepEqual([st.size, st.mode & 0o777, st.atimeMs, st.mtimeMs], [3, 0o604, 5000, 7000]);
      await vfs.setStat('/d', { permissions: 0o750, uid: st.uid, gid: st.gid });
      assert.equal((await vfs.stat('/d')).mode & 0o777, 0o750);
      await fails(vfs.setStat('/f.txt', { gid: st.gid + 1 }), 'DENIED', 'Changing ownership is not allowed');
      await fails(vfs.setStat('/d', { size: 0 }), 'NOT_A_FILE');
      await fails(vfs.setStat('/', { permissions: 0o700 }), 'DENIED', "The home folder's permissions cannot be changed");
      await fails(vfs.setStat('/nope', { permissions: 0o600 }), 'NOT_FOUND', 'No such file');
      assert.equal(await get(vfs, '/f.txt'), 'hel');
    });

    it('links: none to read, none may be made (symlinks off)', async () => {
      const vfs = await fresh();
      for (const p of ['/f.txt', '/d', '/nope']) await fails(vfs.readlink(p), 'NOT_FOUND', 'No such file');
      await fails(vfs.symlink('/f.txt', '/l'), 'DENIED', 'Creating symlinks is disabled on this server');
      await fails(vfs.lstat('/l'), 'NOT_FOUND');
    });

    if (backend === memoryBackend) {
      it('MemoryVfs only: a file cannot grow past MAX_MEMORY_FILE_BYTES, whatever offset a client sends', async () => {
        const vfs = await fresh();
        const f = await vfs.open('/f.txt', F('write'));
        await fails(f.write(MAX_MEMORY_FILE_BYTES, Buffer.from('x')), 'FAILURE', 'File too large');
        await fails(f.setStat({ size: 2 ** 50 }), 'FAILURE', 'File too large');
        await f.close();
        assert.equal((await vfs.stat('/f.txt')).size, 5);
      });
    }

    it('statvfs: block size and counts of the filesystem; NOT_FOUND for a missing path', async () => {
      const vfs = await fresh();
      const s = await vfs.statvfs('/d');
      assert.ok(s.bsize > 0 && s.blocks > 0 && s.bfree <= s.blocks && s.bavail <= s.bfree && s.ffree <= s.files);
      await fails(vfs.statvfs('/nope'), 'NOT_FOUND', 'No such file');
    });
  });
}
