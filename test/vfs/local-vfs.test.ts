/**
 * LocalVfs semantics: open flags, handles on descriptors, symlinks inside and out, special files,
 * SETSTAT, RENAME, listings, names. The jail escape table is in jail.test.ts; here every test still
 * runs in a sandbox whose outside is checked untouched at the end.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { Worker } from 'node:worker_threads';
import { LocalVfs, openMode } from '../../src/vfs/local-vfs.js';
import { VfsError } from '../../src/vfs/vfs-error.js';
import { flags, makeSandbox, outcome, rejectsErrno, rejectsVfs, TEST_METADATA_IO, type Sandbox } from './sandbox.js';

let sb: Sandbox;
let vfs: LocalVfs; // symlinks off (the default policy)
let vfsLinks: LocalVfs; // symlinks on
let H: (p: string) => string; // host path inside the home

before(async () => {
  sb = makeSandbox();
  vfs = await LocalVfs.create(sb.home, { symlinks: false, metadataIo: TEST_METADATA_IO });
  vfsLinks = await LocalVfs.create(sb.home, { symlinks: true, metadataIo: TEST_METADATA_IO });
  H = (p) => join(sb.home, p);
});

after(() => sb.cleanup());

beforeEach(() => {
  sb.emptyHome();
  writeFileSync(H('file.txt'), 'hello world');
  mkdirSync(H('dir'));
  writeFileSync(H('dir/inner.txt'), 'inner');
});

const text = (p: string): string => readFileSync(H(p), 'utf8');

async function readAll(v: LocalVfs, path: string): Promise<string> {
  const f = await v.open(path, flags('read'));
  try {
    const chunks: Buffer[] = [];
    for (let off = 0, b = await f.read(0, 4); b; b = await f.read(off, 4)) {
      chunks.push(b);
      off += b.length;
    }
    return Buffer.concat(chunks).toString();
  } finally {
    await f.close();
  }
}

async function listNames(v: LocalVfs, path: string): Promise<string[]> {
  const d = await v.openDir(path);
  const names: string[] = [];
  try {
    for (let b = await d.next(100); b; b = await d.next(100)) names.push(...b.map((e) => e.name));
  } finally {
    await d.close();
  }
  return names.sort();
}

describe('basics', () => {
  test('create returns a Vfs rooted at the real home', () => {
    assert.equal(vfs.root, sb.home);
  });

  test('stat and lstat of files, folders and "/"', async () => {
    assert.equal((await vfs.stat('/file.txt')).size, 11);
    assert.ok((await vfs.stat('/dir')).isDirectory());
    assert.ok((await vfs.stat('/')).isDirectory());
    assert.equal((await vfs.stat('/')).ino, statSync(sb.home).ino);
    assert.equal((await vfs.lstat('dir/inner.txt')).size, 5);
  });

  test('missing paths are NOT_FOUND with the fixed message', async () => {
    await rejectsVfs(vfs.stat('/nope'), 'NOT_FOUND');
    await rejectsVfs(vfs.lstat('/nope'), 'NOT_FOUND');
    await rejectsVfs(vfs.stat('/nodir/x'), 'NOT_FOUND');
    await rejectsVfs(vfs.open('/nope', flags('read')), 'NOT_FOUND');
    await rejectsVfs(vfs.openDir('/nope'), 'NOT_FOUND');
    await rejectsVfs(vfs.setStat('/nope', { permissions: 0o600 }), 'NOT_FOUND');
    await rejectsVfs(vfs.readlink('/nope'), 'NOT_FOUND');
    await rejectsVfs(vfs.remove('/nope'), 'NOT_FOUND');
    await rejectsVfs(vfs.rename('/nope', '/x', false), 'NOT_FOUND');
    await rejectsVfs(vfs.statvfs('/nope'), 'NOT_FOUND');
  });

  test('a file used as a folder is a clean refusal', async () => {
    await rejectsVfs(vfs.stat('/file.txt/x'), 'NOT_FOUND');
    assert.notEqual(await outcome(vfs.open('/file.txt/x', flags('write', 'creat'))), 'ok');
    assert.notEqual(await outcome(vfs.mkdir('/file.txt/x')), 'ok');
  });

  test('reading through the Vfs does not change mtime', async () => {
    utimesSync(H('file.txt'), 100, 100);
    await readAll(vfs, '/file.txt');
    await vfs.stat('/file.txt');
    assert.equal(statSync(H('file.txt')).mtimeMs, 100_000);
  });

  test('a relative path starts at the home', async () => {
    assert.equal(await readAll(vfs, 'file.txt'), 'hello world');
    assert.equal(await readAll(vfs, './dir/../file.txt'), 'hello world');
  });
});

describe('OPEN flags', () => {
  test('openMode: always O_NOFOLLOW and O_NONBLOCK; CREAT/TRUNC/APPEND count as writes', () => {
    const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = constants;
    const base = O_NOFOLLOW | O_NONBLOCK;
    assert.equal(openMode(flags('read')), O_RDONLY | base);
    assert.equal(openMode(flags('write')), O_WRONLY | base);
    assert.equal(openMode(flags('read', 'write')), O_RDWR | base);
    assert.equal(openMode(flags('write', 'creat', 'excl')), O_WRONLY | O_CREAT | O_EXCL | base);
    assert.equal(openMode(flags('read', 'trunc')), O_RDWR | O_TRUNC | base);
    assert.equal(openMode(flags('append')), O_WRONLY | O_APPEND | base);
    assert.equal(openMode(flags('excl', 'write')), O_WRONLY | base); // EXCL without CREAT means nothing
  });

  test('READ of a missing file is NOT_FOUND and creates nothing', async () => {
    await rejectsVfs(vfs.open('/new.txt', flags('read')), 'NOT_FOUND');
    await rejectsVfs(vfs.open('/new.txt', flags('write')), 'NOT_FOUND');
    assert.equal(existsSync(H('new.txt')), false);
  });

  test('WRITE|CREAT creates with the given permissions, masked to 0777', async () => {
    const f = await vfs.open('/new.txt', flags('write', 'creat'), { permissions: 0o4640 });
    await f.write(0, Buffer.from('abc'));
    await f.close();
    assert.equal(text('new.txt'), 'abc');
    assert.equal(statSync(H('new.txt')).mode & 0o7777, 0o640);
  });

  test('a new file without permissions gets 0644', async () => {
    await (await vfs.open('/new.txt', flags('write', 'creat'))).close();
    assert.equal(statSync(H('new.txt')).mode & 0o7777, 0o644);
  });

  test('CREAT|EXCL on an existing file fails with EEXIST and keeps it', async () => {
    await rejectsErrno(vfs.open('/file.txt', flags('write', 'creat', 'excl')), 'EEXIST');
    assert.equal(text('file.txt'), 'hello world');
  });

  test('CREAT|EXCL on a new file works', async () => {
    const f = await vfs.open('/new.txt', flags('write', 'creat', 'excl'));
    await f.close();
    assert.equal(text('new.txt'), '');
  });

  test('TRUNC empties the file', async () => {
    const f = await vfs.open('/file.txt', flags('write', 'creat', 'trunc'));
    assert.equal((await f.stat()).size, 0);
    await f.close();
    assert.equal(text('file.txt'), '');
  });

  test('WRITE|CREAT without TRUNC keeps the content (WinSCP resume)', async () => {
    const f = await vfs.open('/file.txt', flags('write', 'creat'));
    await f.write(6, Buffer.from('WORLD!'));
    await f.close();
    assert.equal(text('file.txt'), 'hello WORLD!');
  });

  test('READ|WRITE reads and writes the same file', async () => {
    const f = await vfs.open('/file.txt', flags('read', 'write'));
    await f.write(0, Buffer.from('J'));
    assert.equal((await f.read(0, 100))!.toString(), 'Jello world');
    await f.close();
  });

  test('APPEND writes at the end whatever offset is given', async () => {
    const f = await vfs.open('/file.txt', flags('write', 'append'));
    await f.write(0, Buffer.from('!'));
    await f.write(3, Buffer.from('?'));
    await f.write(1_000_000, Buffer.from('#'));
    await f.close();
    assert.equal(text('file.txt'), 'hello world!?#');
    assert.equal(statSync(H('file.txt')).size, 14);
  });

  test('APPEND|CREAT creates a missing file', async () => {
    const f = await vfs.open('/log.txt', flags('append', 'creat'));
    await f.write(5, Buffer.from('a'));
    await f.write(0, Buffer.from('b'));
    await f.close();
    assert.equal(text('log.txt'), 'ab');
  });

  test('a read-only handle cannot write', async () => {
    const f = await vfs.open('/file.txt', flags('read'));
    try {
      await rejectsErrno(f.write(0, Buffer.from('x')), 'EBADF');
    } finally {
      await f.close();
    }
    assert.equal(text('file.txt'), 'hello world');
  });

  test('read past the end is null; a short read returns what there is', async () => {
    const f = await vfs.open('/file.txt', flags('read'));
    assert.equal((await f.read(6, 100))!.toString(), 'world');
    assert.equal(await f.read(11, 10), null);
    assert.equal(await f.read(1_000_000, 10), null);
    await f.close();
  });

  test('open of a folder (and of "/") is NOT_A_FILE, whatever the flags', async () => {
    for (const p of ['/dir', '/', '/..', '']) {
      await rejectsVfs(vfs.open(p, flags('read')), 'NOT_A_FILE');
      await rejectsVfs(vfs.open(p, flags('write', 'creat', 'trunc')), 'NOT_A_FILE');
    }
    assert.ok(statSync(H('dir')).isDirectory());
  });

  test('a handle: stat, sync, setStat on the descriptor', async () => {
    const f = await vfs.open('/file.txt', flags('read', 'write'));
    try {
      assert.equal((await f.stat()).size, 11);
      await f.sync();
      await f.setStat({ size: 5, permissions: 0o6750, atime: 1_000_000, mtime: 2_000_000 });
      const st = statSync(H('file.txt'));
      assert.equal(st.size, 5);
      assert.equal(st.mode & 0o7777, 0o750);
      assert.equal(st.mtimeMs, 2_000_000_000);
      await rejectsVfs(f.setStat({ uid: st.uid + 1 }), 'DENIED');
      await rejectsVfs(f.setStat({ gid: st.gid + 1 }), 'DENIED');
      await f.setStat({ uid: st.uid, gid: st.gid }); // a no-op, allowed
    } finally {
      await f.close();
    }
  });
});

describe('handles work on the descriptor, not the path', () => {
  test('renaming the path after OPEN: the handle still reads the file', async () => {
    const f = await vfs.open('/file.txt', flags('read'));
    try {
      renameSync(H('file.txt'), H('moved.txt'));
      writeFileSync(H('file.txt'), 'another file');
      assert.equal((await f.read(0, 100))!.toString(), 'hello world');
    } finally {
      await f.close();
    }
  });

  test('the path replaced by a symlink to outside: reads, writes and setStat stay on the original', async () => {
    const f = await vfs.open('/file.txt', flags('read', 'write'));
    try {
      unlinkSync(H('file.txt'));
      symlinkSync(join(sb.outside, 'secret.txt'), H('file.txt'));
      assert.equal((await f.read(0, 100))!.toString(), 'hello world');
      await f.write(0, Buffer.from('PWNED'));
      await f.setStat({ size: 3, permissions: 0o777, atime: 5, mtime: 5 });
      assert.equal((await f.read(0, 100))!.toString(), 'PWN');
    } finally {
      await f.close();
    }
    assert.equal(readFileSync(join(sb.outside, 'secret.txt'), 'utf8'), 'CANARY');
    sb.assertUntouched();
  });

  test('a closed handle refuses further use', async () => {
    const f = await vfs.open('/file.txt', flags('read'));
    await f.close();
    await assert.rejects(f.read(0, 10));
  });
});

describe('symlinks that stay inside the home work', () => {
  beforeEach(() => {
    symlinkSync('file.txt', H('rel-link'));
    symlinkSync(H('file.txt'), H('abs-link')); // an absolute host path inside the home
    symlinkSync('dir', H('dir-link'));
    symlinkSync('../file.txt', H('dir/up-link'));
    symlinkSync('rel-link', H('chain'));
    symlinkSync('.', H('self'));
  });

  test('stat follows, lstat does not', async () => {
    for (const p of ['/rel-link', '/abs-link', '/dir/up-link', '/chain']) {
      assert.equal((await vfs.stat(p)).ino, statSync(H('file.txt')).ino, p);
      assert.ok((await vfs.lstat(p)).isSymbolicLink(), p);
    }
    assert.ok((await vfs.stat('/dir-link')).isDirectory());
  });

  test('open reads and writes through them', async () => {
    for (const p of ['/rel-link', '/abs-link', '/dir/up-link', '/chain', '/dir-link/../file.txt']) {
      assert.equal(await readAll(vfs, p), 'hello world', p);
    }
    const f = await vfs.open('/rel-link', flags('write'));
    await f.write(0, Buffer.from('J'));
    await f.close();
    assert.equal(text('file.txt'), 'Jello world');
    assert.ok(lstatSync(H('rel-link')).isSymbolicLink());
  });

  test('openDir and paths through a folder link', async () => {
    assert.deepEqual(await listNames(vfs, '/dir-link'), ['inner.txt', 'up-link']);
    assert.equal(await readAll(vfs, '/dir-link/inner.txt'), 'inner');
    assert.equal(await readAll(vfs, '/self/self/dir/inner.txt'), 'inner');
    await vfs.mkdir('/dir-link/sub');
    assert.ok(statSync(H('dir/sub')).isDirectory());
  });

  test('readlink answers a relative text as stored, an absolute host path as the virtual path reached', async () => {
    assert.equal(await vfs.readlink('/rel-link'), 'file.txt');
    assert.equal(await vfs.readlink('/abs-link'), '/file.txt');
    assert.equal(await vfs.readlink('/dir/up-link'), '../file.txt');
    assert.equal(await vfs.readlink('/dir-link'), 'dir');
    assert.equal(await vfs.readlink('/chain'), 'rel-link'); // one hop, as readlink(2)
    assert.equal(await vfs.readlink('/self'), '.');
    assert.equal(await vfs.readlink('/dir-link/up-link'), '../file.txt');
  });

  test('readlink of a link that only leads outside through another link is NOT_FOUND', async () => {
    symlinkSync('..', H('up'));
    symlinkSync('up/outside/secret.txt', H('via-up'));
    await rejectsVfs(vfs.stat('/via-up'), 'NOT_FOUND');
    await rejectsVfs(vfs.readlink('/via-up'), 'NOT_FOUND');
  });

  test('readlink of a dangling link inside answers its text', async () => {
    symlinkSync('dir/missing', H('dangling'));
    symlinkSync('nodir/missing', H('dangling2'));
    assert.equal(await vfs.readlink('/dangling'), 'dir/missing');
    assert.equal(await vfs.readlink('/dangling2'), 'nodir/missing');
    await rejectsVfs(vfs.stat('/dangling'), 'NOT_FOUND');
  });

  test('readlink of a non-link or of "/" is NOT_FOUND', async () => {
    await rejectsVfs(vfs.readlink('/file.txt'), 'NOT_FOUND');
    await rejectsVfs(vfs.readlink('/dir'), 'NOT_FOUND');
    await rejectsVfs(vfs.readlink('/'), 'NOT_FOUND');
  });

  test('remove of a link removes the link only', async () => {
    await vfs.remove('/rel-link');
    assert.equal(existsSync(H('rel-link')), false);
    assert.equal(text('file.txt'), 'hello world');
    await vfs.remove('/dir-link');
    assert.ok(statSync(H('dir')).isDirectory());
  });
});

describe('symlinks that lead outside are refused at access', () => {
  beforeEach(() => {
    symlinkSync(join(sb.outside, 'secret.txt'), H('abs-out'));
    symlinkSync(relative(sb.home, join(sb.outside, 'secret.txt')), H('rel-out'));
    symlinkSync(relative(sb.home, join(sb.outside, 'created.txt')), H('dangling-out'));
    symlinkSync(join(sb.outside, 'created-abs.txt'), H('dangling-abs-out'));
    symlinkSync('..', H('up'));
    symlinkSync(sb.outside, H('out'));
  });

  test('stat, open, openDir, setStat through them are NOT_FOUND', async () => {
    for (const p of ['/abs-out', '/rel-out', '/dangling-out', '/up', '/out', '/out/secret.txt', '/up/outside/secret.txt']) {
      await rejectsVfs(vfs.stat(p), 'NOT_FOUND');
      await rejectsVfs(vfs.open(p, flags('read')), 'NOT_FOUND');
      await rejectsVfs(vfs.openDir(p), 'NOT_FOUND');
      await rejectsVfs(vfs.setStat(p, { permissions: 0o777 }), 'NOT_FOUND');
    }
    sb.assertUntouched();
  });

  test('OPEN|CREAT through a dangling link pointing outside creates nothing outside', async () => {
    for (const p of ['/dangling-out', '/dangling-abs-out']) {
      await rejectsVfs(vfs.open(p, flags('write', 'creat')), 'NOT_FOUND');
      await rejectsVfs(vfs.open(p, flags('write', 'creat', 'trunc')), 'NOT_FOUND');
      await rejectsVfs(vfs.open(p, flags('append', 'creat')), 'NOT_FOUND');
      await rejectsVfs(vfs.open(p, flags('write', 'creat', 'excl')), 'NOT_FOUND');
    }
    assert.equal(existsSync(join(sb.outside, 'created.txt')), false);
    assert.equal(existsSync(join(sb.outside, 'created-abs.txt')), false);
    sb.assertUntouched();
  });

  test('a link in a parent component: up/x and out/secret.txt', async () => {
    await rejectsVfs(vfs.open('/up/x', flags('write', 'creat')), 'NOT_FOUND');
    await rejectsVfs(vfs.mkdir('/up/newdir'), 'NOT_FOUND');
    await rejectsVfs(vfs.open('/out/secret.txt', flags('read')), 'NOT_FOUND');
    await rejectsVfs(vfs.open('/out/secret.txt', flags('write', 'trunc')), 'NOT_FOUND');
    await rejectsVfs(vfs.remove('/out/secret.txt'), 'NOT_FOUND');
    assert.equal(existsSync(join(sb.box, 'x')), false);
    sb.assertUntouched();
  });

  test('readlink of a link leading outside is NOT_FOUND, never the host path', async () => {
    for (const p of ['/abs-out', '/rel-out', '/dangling-out', '/dangling-abs-out', '/up', '/out']) {
      await rejectsVfs(vfs.readlink(p), 'NOT_FOUND');
    }
  });

  test('listings show such links with their own lstat, not followed', async () => {
    const d = await vfs.openDir('/');
    const entries = new Map<string, import('node:fs').Stats>();
    for (let b = await d.next(100); b; b = await d.next(100)) for (const e of b) entries.set(e.name, e.stats);
    await d.close();
    for (const name of ['abs-out', 'rel-out', 'dangling-out', 'up', 'out']) {
      const st = entries.get(name);
      assert.ok(st, name);
      assert.ok(st.isSymbolicLink(), name);
      assert.equal(st.ino, lstatSync(H(name)).ino);
    }
    assert.equal(entries.get('abs-out')!.size, join(sb.outside, 'secret.txt').length); // the link's size
  });

  test('remove of a link to outside removes only the link', async () => {
    await vfs.remove('/abs-out');
    await vfs.remove('/out');
    assert.equal(existsSync(H('abs-out')), false);
    assert.equal(readFileSync(join(sb.outside, 'secret.txt'), 'utf8'), 'CANARY');
    sb.assertUntouched();
  });

  test('rmdir of a link to an outside folder does not remove the folder', async () => {
    await rejectsErrno(vfs.rmdir('/out'), 'ENOTDIR');
    sb.assertUntouched();
  });

  test('a home whose own path holds a symlink still confines', async () => {
    const linkDir = mkdtempSync(join(tmpdir(), 'coffer-vfs-link-')); // not in the fingerprinted sandbox
    const viaLink = join(linkDir, 'home-link');
    symlinkSync(sb.home, viaLink);
    try {
      const v = await LocalVfs.create(viaLink, { symlinks: false, metadataIo: TEST_METADATA_IO });
      assert.equal(v.root, sb.home);
      assert.equal(await readAll(v, '/file.txt'), 'hello world');
      await rejectsVfs(v.stat('/up/outside'), 'NOT_FOUND');
    } finally {
      rmSync(linkDir, { recursive: true, force: true });
    }
  });
});

describe('SYMLINK creation', () => {
  test('DENIED when symlinks are off, and nothing is created', async () => {
    await rejectsVfs(vfs.symlink('file.txt', '/l'), 'DENIED');
    await rejectsVfs(vfs.symlink('/etc/passwd', '/l'), 'DENIED');
    assert.equal(existsSync(H('l')), false);
  });

  test('a relative target inside works and is stored relative', async () => {
    await vfsLinks.symlink('file.txt', '/l');
    assert.equal(readlinkSync(H('l')), 'file.txt');
    assert.equal(await readAll(vfsLinks, '/l'), 'hello world');
    assert.equal(await vfsLinks.readlink('/l'), 'file.txt');
  });

  test('an absolute virtual target is stored relative, never as a host path', async () => {
    mkdirSync(H('a/b'), { recursive: true });
    await vfsLinks.symlink('/dir/inner.txt', '/a/b/l');
    const stored = readlinkSync(H('a/b/l'));
    assert.equal(isAbsolute(stored), false);
    assert.equal(stored, '../../dir/inner.txt');
    assert.equal(await readAll(vfsLinks, '/a/b/l'), 'inner');
    assert.equal(await vfsLinks.readlink('/a/b/l'), '../../dir/inner.txt');
  });

  test('a link to "/" or "." is stored as "."', async () => {
    await vfsLinks.symlink('/', '/root-link');
    assert.equal(readlinkSync(H('root-link')), '.');
    assert.deepEqual(await listNames(vfsLinks, '/root-link'), ['dir', 'file.txt', 'root-link']);
  });

  test('targets that climb above "/" are DENIED (ln -s ../../.. q)', async () => {
    for (const t of ['..', '../../..', '../outside/secret.txt', '/..', '/../etc/passwd', 'dir/../../x']) {
      await rejectsVfs(vfsLinks.symlink(t, '/q'), 'DENIED');
    }
    mkdirSync(H('a'));
    await rejectsVfs(vfsLinks.symlink('../..', '/a/q'), 'DENIED');
    assert.equal(existsSync(H('q')), false);
    assert.equal(existsSync(H('a/q')), false);
  });

  test('a host path as target is a virtual path inside the home', async () => {
    await vfsLinks.symlink(join(sb.outside, 'secret.txt'), '/l');
    assert.equal(isAbsolute(readlinkSync(H('l'))), false);
    await rejectsVfs(vfsLinks.stat('/l'), 'NOT_FOUND');
    sb.assertUntouched();
  });

  test('catalog 1.8: a valid link moved so it points outside is refused at access', async () => {
    await vfsLinks.mkdir('/a');
    await vfsLinks.mkdir('/a/b');
    await vfsLinks.symlink('../..', '/a/b/x');
    assert.deepEqual(await listNames(vfsLinks, '/a/b/x'), ['a', 'dir', 'file.txt']); // "/" for now
    await vfsLinks.rename('/a/b/x', '/x', false);
    await rejectsVfs(vfsLinks.stat('/x'), 'NOT_FOUND');
    await rejectsVfs(vfsLinks.openDir('/x'), 'NOT_FOUND');
    await rejectsVfs(vfsLinks.readlink('/x'), 'NOT_FOUND');
    await rejectsVfs(vfsLinks.stat('/x/outside/secret.txt'), 'NOT_FOUND');
    await rejectsVfs(vfsLinks.open('/x/outside/secret.txt', flags('read')), 'NOT_FOUND');
    await rejectsVfs(vfsLinks.open('/x/new.txt', flags('write', 'creat')), 'NOT_FOUND');
    await rejectsVfs(vfsLinks.setStat('/x', { permissions: 0o700 }), 'NOT_FOUND');
    sb.assertUntouched();
  });

  test('a link in a folder reached through a folder link resolves against the real folder', async () => {
    mkdirSync(H('a/b'), { recursive: true });
    symlinkSync('a/b', H('ab'));
    await vfsLinks.symlink('../x.txt', '/ab/l'); // virtual: /ab/../x.txt = /x.txt
    writeFileSync(H('x.txt'), 'x');
    assert.equal(await readAll(vfsLinks, '/ab/l'), 'x');
    assert.equal(await readAll(vfsLinks, '/a/b/l'), 'x');
  });

  test('a link over an existing name, at "/" or under an outside folder fails cleanly', async () => {
    await rejectsErrno(vfsLinks.symlink('dir', '/file.txt'), 'EEXIST');
    await rejectsVfs(vfsLinks.symlink('dir', '/'), 'EXISTS');
    symlinkSync('..', H('up'));
    await rejectsVfs(vfsLinks.symlink('file.txt', '/up/l'), 'NOT_FOUND');
    assert.equal(text('file.txt'), 'hello world');
    sb.assertUntouched();
  });

  test('unusable names in the target or the link are NOT_FOUND', async () => {
    await rejectsVfs(vfsLinks.symlink('file\u0000.txt', '/l'), 'NOT_FOUND');
    await rejectsVfs(vfsLinks.symlink('a\nb', '/l'), 'NOT_FOUND');
    await rejectsVfs(vfsLinks.symlink('file.txt', '/l\u0001'), 'NOT_FOUND');
    await rejectsVfs(vfsLinks.symlink('x'.repeat(5000), '/l'), 'NOT_FOUND');
    assert.deepEqual(readdirSync(sb.home).sort(), ['dir', 'file.txt']);
  });
});

describe('FIFOs and devices are refused without blocking', { timeout: 10_000 }, () => {
  beforeEach(() => {
    execFileSync('mkfifo', [H('fifo')]);
    symlinkSync('fifo', H('fifo-link'));
  });

  test('open of a FIFO, directly or through a link, is NOT_A_FILE', { timeout: 5000 }, async () => {
    for (const p of ['/fifo', '/fifo-link']) {
      await rejectsVfs(vfs.open(p, flags('read')), 'NOT_A_FILE');
      await rejectsVfs(vfs.open(p, flags('write')), 'NOT_A_FILE');
      await rejectsVfs(vfs.open(p, flags('write', 'creat')), 'NOT_A_FILE');
      await rejectsVfs(vfs.open(p, flags('read', 'write', 'creat', 'trunc')), 'NOT_A_FILE');
    }
  });

  test('the FIFO can be listed, stat-ed, chmod-ed, removed, but not truncated or listed into', { timeout: 5000 }, async () => {
    assert.ok((await vfs.stat('/fifo')).isFIFO());
    assert.ok((await vfs.stat('/fifo-link')).isFIFO());
    assert.ok((await listNames(vfs, '/')).includes('fifo'));
    await rejectsVfs(vfs.openDir('/fifo'), 'NOT_A_DIR');
    await rejectsVfs(vfs.setStat('/fifo', { size: 0 }), 'NOT_A_FILE');
    await vfs.setStat('/fifo', { permissions: 0o600 });
    assert.equal(statSync(H('fifo')).mode & 0o777, 0o600);
    await vfs.remove('/fifo');
    assert.equal(existsSync(H('fifo')), false);
  });

  test('a character device is NOT_A_FILE', { timeout: 5000 }, async (t) => {
    try {
      execFileSync('mknod', [H('null'), 'c', '1', '3'], { stdio: 'ignore' });
    } catch {
      t.skip('mknod is not permitted here');
      return;
    }
    assert.ok((await vfs.stat('/null')).isCharacterDevice());
    await rejectsVfs(vfs.open('/null', flags('read')), 'NOT_A_FILE');
    await rejectsVfs(vfs.open('/null', flags('write', 'creat', 'trunc')), 'NOT_A_FILE');
    await rejectsVfs(vfs.setStat('/null', { size: 0 }), 'NOT_A_FILE');
  });

  test('a link to the host /dev/null is outside: NOT_FOUND', { timeout: 5000 }, async () => {
    symlinkSync('/dev/null', H('devnull'));
    await rejectsVfs(vfs.open('/devnull', flags('write')), 'NOT_FOUND');
  });
});

describe('SETSTAT', () => {
  test('permissions are masked to 0777', async () => {
    await vfs.setStat('/file.txt', { permissions: 0o4755 });
    assert.equal(statSync(H('file.txt')).mode & 0o7777, 0o755);
    await vfs.setStat('/file.txt', { permissions: 0o7777 });
    assert.equal(statSync(H('file.txt')).mode & 0o7777, 0o777);
    await vfs.setStat('/dir', { permissions: 0o3711 });
    assert.equal(statSync(H('dir')).mode & 0o7777, 0o711);
    await vfs.setStat('/file.txt', { permissions: 0o100600 }); // file-type bits as clients send them
    assert.equal(statSync(H('file.txt')).mode & 0o7777, 0o600);
  });

  test('uid/gid changes are DENIED and change nothing; the current owner is a no-op', async () => {
    const st = statSync(H('file.txt'));
    await rejectsVfs(vfs.setStat('/file.txt', { uid: st.uid + 1 }), 'DENIED');
    await rejectsVfs(vfs.setStat('/file.txt', { gid: st.gid + 1 }), 'DENIED');
    await rejectsVfs(vfs.setStat('/file.txt', { uid: 65534, gid: 65534, permissions: 0o600, size: 0 }), 'DENIED');
    const after = statSync(H('file.txt'));
    assert.deepEqual([after.uid, after.gid, after.mode, after.size], [st.uid, st.gid, st.mode, st.size]);
    await vfs.setStat('/file.txt', { uid: st.uid, gid: st.gid });
  });

  test('chmod of "/" is DENIED, in every spelling', async () => {
    const before = statSync(sb.home).mode;
    for (const p of ['/', '', '.', '/..', '/dir/..', '//']) {
      await rejectsVfs(vfs.setStat(p, { permissions: 0o000 }), 'DENIED');
    }
    assert.equal(statSync(sb.home).mode, before);
  });

  test('chmod of "/" through a symlink to the home is DENIED too (catalog 1.14)', async () => {
    const before = statSync(sb.home).mode;
    await vfsLinks.symlink('.', '/self');
    try {
      await rejectsVfs(vfsLinks.setStat('/self', { permissions: 0o000 }), 'DENIED');
    } finally {
      const now = statSync(sb.home).mode;
      if (now !== before) execFileSync('chmod', [(before & 0o7777).toString(8), sb.home]);
      assert.equal(now, before, 'the home folder was chmodded through /self');
    }
  });

  test('times on "/" are allowed', async () => {
    await vfs.setStat('/', { atime: 1_000, mtime: 2_000 });
    assert.equal(statSync(sb.home).mtimeMs, 2_000_000);
  });

  test('size truncates and extends', async () => {
    await vfs.setStat('/file.txt', { size: 5 });
    assert.equal(text('file.txt'), 'hello');
    await vfs.setStat('/file.txt', { size: 8 });
    assert.deepEqual(readFileSync(H('file.txt')), Buffer.from('hello\0\0\0'));
  });

  test('size on a folder is NOT_A_FILE', async () => {
    await rejectsVfs(vfs.setStat('/dir', { size: 0 }), 'NOT_A_FILE');
  });

  test('times are set', async () => {
    await vfs.setStat('/file.txt', { atime: 1_234_567, mtime: 7_654_321 });
    const st = statSync(H('file.txt'));
    assert.equal(st.atimeMs, 1_234_567_000);
    assert.equal(st.mtimeMs, 7_654_321_000);
  });

  test('through an inside link, the target changes', async () => {
    symlinkSync('file.txt', H('l'));
    await vfs.setStat('/l', { permissions: 0o600, size: 2 });
    assert.equal(statSync(H('file.txt')).mode & 0o777, 0o600);
    assert.equal(text('file.txt'), 'he');
  });

  test('an empty SETSTAT changes nothing', async () => {
    const st = statSync(H('file.txt'));
    await vfs.setStat('/file.txt', {});
    const now = statSync(H('file.txt'));
    assert.deepEqual([now.mode, now.size, now.mtimeMs], [st.mode, st.size, st.mtimeMs]);
  });
});

/** Accepts the EXISTS refusal whichever way it is spelled (see the report: link() gives EEXIST). */
function isExistsRefusal(err: unknown): boolean {
  return (err instanceof VfsError && err.code === 'EXISTS') || (err as NodeJS.ErrnoException).code === 'EEXIST';
}

describe('RENAME', () => {
  beforeEach(() => {
    writeFileSync(H('other.txt'), 'other');
    mkdirSync(H('empty'));
  });

  test('a file to a new name', async () => {
    await vfs.rename('/file.txt', '/renamed.txt', false);
    assert.equal(text('renamed.txt'), 'hello world');
    assert.equal(existsSync(H('file.txt')), false);
    assert.equal(statSync(H('renamed.txt')).nlink, 1);
  });

  test('a folder to a new name, and into another folder', async () => {
    await vfs.rename('/dir', '/dir2', false);
    assert.equal(text('dir2/inner.txt'), 'inner');
    await vfs.rename('/dir2', '/empty/dir3', false);
    assert.equal(text('empty/dir3/inner.txt'), 'inner');
  });

  test('without overwrite, an existing file target is refused and both stay intact', async () => {
    await assert.rejects(vfs.rename('/file.txt', '/other.txt', false), isExistsRefusal);
    assert.equal(text('file.txt'), 'hello world');
    assert.equal(text('other.txt'), 'other');
    assert.equal(statSync(H('file.txt')).nlink, 1);
  });

  test('without overwrite, the refusal is the EXISTS VfsError for files too (vfs.ts contract)', async () => {
    await rejectsVfs(vfs.rename('/file.txt', '/other.txt', false), 'EXISTS');
  });

  test('without overwrite, folder onto folder, file onto folder, folder onto file are refused', async () => {
    await assert.rejects(vfs.rename('/dir', '/empty', false), isExistsRefusal);
    await assert.rejects(vfs.rename('/file.txt', '/empty', false), isExistsRefusal);
    await assert.rejects(vfs.rename('/dir', '/file.txt', false), isExistsRefusal);
    assert.equal(text('dir/inner.txt'), 'inner');
    assert.deepEqual(readdirSync(H('empty')), []);
    assert.equal(text('file.txt'), 'hello world');
  });

  test('without overwrite, a symlink (even dangling) at the target is refused', async () => {
    symlinkSync('nothing', H('dangling'));
    await assert.rejects(vfs.rename('/file.txt', '/dangling', false), isExistsRefusal);
    await assert.rejects(vfs.rename('/dir', '/dangling', false), isExistsRefusal);
    assert.equal(readlinkSync(H('dangling')), 'nothing');
  });

  test('a file onto itself without overwrite is refused and the file stays', async () => {
    await assert.rejects(vfs.rename('/file.txt', '/file.txt', false), isExistsRefusal);
    assert.equal(text('file.txt'), 'hello world');
  });

  test('with overwrite (posix-rename), an existing file is replaced', async () => {
    await vfs.rename('/file.txt', '/other.txt', true);
    assert.equal(text('other.txt'), 'hello world');
    assert.equal(existsSync(H('file.txt')), false);
  });

  test('with overwrite, a folder replaces an empty folder but not a non-empty one', async () => {
    await vfs.rename('/dir', '/empty', true);
    assert.equal(text('empty/inner.txt'), 'inner');
    mkdirSync(H('dir'));
    await assert.rejects(vfs.rename('/dir', '/empty', true), (e: NodeJS.ErrnoException) => ['ENOTEMPTY', 'EEXIST'].includes(e.code ?? ''));
    assert.equal(text('empty/inner.txt'), 'inner');
  });

  test('with overwrite, a link to outside at the target is replaced, the outside file untouched', async () => {
    symlinkSync(join(sb.outside, 'secret.txt'), H('evil'));
    await vfs.rename('/file.txt', '/evil', true);
    assert.ok(lstatSync(H('evil')).isFile());
    assert.equal(text('evil'), 'hello world');
    sb.assertUntouched();
  });

  test('renaming "/" or onto "/" is DENIED', async () => {
    for (const root of ['/', '', '.', '/..', '/dir/..']) {
      await rejectsVfs(vfs.rename(root, '/x', false), 'DENIED');
      await rejectsVfs(vfs.rename(root, '/x', true), 'DENIED');
      await rejectsVfs(vfs.rename('/file.txt', root, false), 'DENIED');
      await rejectsVfs(vfs.rename('/file.txt', root, true), 'DENIED');
    }
    assert.equal(text('file.txt'), 'hello world');
    assert.deepEqual(readdirSync(sb.home).sort(), ['dir', 'empty', 'file.txt', 'other.txt']);
  });

  test('a folder into its own sub-folder fails cleanly and changes nothing', async () => {
    mkdirSync(H('dir/sub'));
    await rejectsErrno(vfs.rename('/dir', '/dir/sub/moved', false), 'EINVAL');
    await rejectsErrno(vfs.rename('/dir', '/dir/moved', true), 'EINVAL');
    assert.deepEqual(readdirSync(H('dir')).sort(), ['inner.txt', 'sub']);
    assert.deepEqual(readdirSync(H('dir/sub')), []);
  });

  test('from or to outside answers like missing, and nothing moves', async () => {
    symlinkSync('..', H('up'));
    symlinkSync(sb.outside, H('out'));
    const missingFrom = await outcome(vfs.rename('/nodir/secret.txt', '/stolen.txt', false));
    const missingTo = await outcome(vfs.rename('/file.txt', '/nodir/x', false));
    assert.equal(missingFrom, 'NOT_FOUND');
    assert.equal(missingTo, 'NOT_FOUND');
    for (const overwrite of [false, true]) {
      assert.equal(await outcome(vfs.rename('/out/secret.txt', '/stolen.txt', overwrite)), missingFrom);
      assert.equal(await outcome(vfs.rename('/up/outside/secret.txt', '/stolen.txt', overwrite)), missingFrom);
      assert.equal(await outcome(vfs.rename('/up/outside', '/stolen', overwrite)), missingFrom);
      assert.equal(await outcome(vfs.rename('/file.txt', '/out/planted.txt', overwrite)), missingTo);
      assert.equal(await outcome(vfs.rename('/file.txt', '/up/planted.txt', overwrite)), missingTo);
      assert.equal(await outcome(vfs.rename('/dir', '/up/planted', overwrite)), missingTo);
    }
    assert.equal(existsSync(H('stolen.txt')), false);
    assert.equal(text('file.txt'), 'hello world');
    sb.assertUntouched();
  });

  test('a link to outside moves as a link (it is still refused at access)', async () => {
    symlinkSync(join(sb.outside, 'secret.txt'), H('evil'));
    await vfs.rename('/evil', '/dir/evil', false);
    assert.ok(lstatSync(H('dir/evil')).isSymbolicLink());
    await rejectsVfs(vfs.stat('/dir/evil'), 'NOT_FOUND');
    sb.assertUntouched();
  });
});

describe('folders', () => {
  test('openDir lists in batches of at most max: 250 entries by 100 -> 100, 100, 50, null', async () => {
    mkdirSync(H('many'));
    for (let i = 0; i < 250; i++) writeFileSync(H(`many/f${i}`), '');
    const d = await vfs.openDir('/many');
    const sizes: number[] = [];
    const names = new Set<string>();
    for (let b = await d.next(100); b; b = await d.next(100)) {
      sizes.push(b.length);
      for (const e of b) {
        names.add(e.name);
        assert.ok(e.stats.isFile());
      }
    }
    assert.equal(await d.next(100), null); // stays done
    await d.close();
    assert.deepEqual(sizes, [100, 100, 50]);
    assert.equal(names.size, 250);
  });

  test('names() lists names only, in batches of at most max: 130 by 100 -> 100, 30, null', async () => {
    mkdirSync(H('nm'));
    for (let i = 0; i < 129; i++) writeFileSync(H(`nm/f${i}`), '');
    symlinkSync('nowhere', H('nm/dangling'));
    const d = await vfs.openDir('/nm');
    const sizes: number[] = [];
    const names: string[] = [];
    assert.deepEqual(await d.names(0), [], 'max 0: nothing, not the end');
    for (let b = await d.names(100); b; b = await d.names(100)) {
      sizes.push(b.length);
      names.push(...b);
    }
    assert.equal(await d.names(100), null, 'stays done');
    await d.close();
    assert.deepEqual(sizes, [100, 30]);
    assert.equal(new Set(names).size, 130);
    assert.ok(names.includes('dangling') && names.includes('f128'));
  });

  test('an empty folder lists nothing', async () => {
    mkdirSync(H('e'));
    const d = await vfs.openDir('/e');
    assert.equal(await d.next(100), null);
    await d.close();
  });

  test('entries are lstat-ed: names, types and sizes, without "." or ".."', async () => {
    symlinkSync('file.txt', H('l'));
    const d = await vfs.openDir('/');
    const got = new Map<string, import('node:fs').Stats>();
    for (let b = await d.next(100); b; b = await d.next(100)) for (const e of b) got.set(e.name, e.stats);
    await d.close();
    assert.deepEqual([...got.keys()].sort(), ['dir', 'file.txt', 'l']);
    assert.equal(got.get('file.txt')!.size, 11);
    assert.ok(got.get('dir')!.isDirectory());
    assert.ok(got.get('l')!.isSymbolicLink());
  });

  test('a batch of 1 works, and the same listing is complete', async () => {
    const d = await vfs.openDir('/');
    const names: string[] = [];
    for (let b = await d.next(1); b; b = await d.next(1)) {
      assert.equal(b.length, 1);
      names.push(b[0]!.name);
    }
    await d.close();
    assert.deepEqual(names.sort(), ['dir', 'file.txt']);
  });

  test('next(0) does not hang the event loop', { timeout: 10_000 }, async () => {
    // Run in a worker: in this thread the microtask loop would starve every timer, test timeouts included.
    const url = new URL('../../src/vfs/local-vfs.js', import.meta.url).href;
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.url).then(async ({ LocalVfs }) => {
        const v = await LocalVfs.create(workerData.home, { symlinks: false });
        const d = await v.openDir('/');
        const r = await d.next(0);
        parentPort.postMessage(r === null ? 'null' : r.length);
      });`;
    const worker = new Worker(code, { eval: true, workerData: { url, home: sb.home } });
    try {
      const answer = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('next(0) did not return within 3 s')), 3000);
        worker.once('message', (m) => {
          clearTimeout(timer);
          resolve(m);
        });
        worker.once('error', reject);
      });
      assert.ok(answer === 0 || answer === 'null', `next(0) answered ${String(answer)}`);
    } finally {
      await worker.terminate();
    }
  });

  test('an open listing whose folder is swapped for a link to outside lists no outside stats', async () => {
    // Names come from the open folder, stats from lstat(<folder path>/<name>) at next() time. Give
    // the folder the names of the entries two levels above the home, open the listing, then put a
    // link there that was valid when made (catalog 1.8) and now leads two levels up.
    mkdirSync(H('d'));
    for (const name of ['top.txt', 'box', 'missing-outside']) writeFileSync(H(`d/${name}`), '');
    const listing = await vfsLinks.openDir('/d');
    const entries = [];
    try {
      await vfsLinks.rename('/d', '/d-old', false);
      await vfsLinks.mkdir('/a');
      await vfsLinks.mkdir('/a/b');
      await vfsLinks.symlink('../..', '/a/b/x');
      await vfsLinks.rename('/a/b/x', '/d', false);
      for (let b = await listing.next(100); b; b = await listing.next(100)) entries.push(...b);
    } finally {
      await listing.close();
    }
    sb.assertUntouched();
    const outsideIno = lstatSync(join(sb.tmp, 'top.txt')).ino;
    for (const e of entries) assert.notEqual(e.stats.ino, outsideIno, `${e.name}: the stats of the outside file`);
    // Either the listing ends (or fails) or it shows the original entries: never a subset chosen by
    // what exists outside (an existence oracle).
    const names = entries.map((e) => e.name).sort();
    assert.ok(names.length === 0 || names.join() === 'box,missing-outside,top.txt', `listed ${names.join()}`);
    for (const e of entries) assert.equal(e.stats.ino, lstatSync(H(`d-old/${e.name}`)).ino, e.name);
  });

  test('openDir of a file is NOT_A_DIR', async () => {
    await rejectsVfs(vfs.openDir('/file.txt'), 'NOT_A_DIR');
  });

  test('mkdir creates with masked permissions; existing names and "/" fail', async () => {
    await vfs.mkdir('/new', { permissions: 0o1777 });
    assert.equal(statSync(H('new')).mode & 0o7000, 0);
    assert.ok(statSync(H('new')).isDirectory());
    await vfs.mkdir('/new2');
    assert.equal(statSync(H('new2')).mode & 0o777, 0o755);
    await rejectsErrno(vfs.mkdir('/file.txt'), 'EEXIST');
    await rejectsErrno(vfs.mkdir('/dir'), 'EEXIST');
    await rejectsVfs(vfs.mkdir('/'), 'EXISTS');
    await rejectsVfs(vfs.mkdir('/nodir/x'), 'NOT_FOUND');
  });

  test('rmdir removes an empty folder; "/" is DENIED in every spelling', async () => {
    mkdirSync(H('e'));
    await vfs.rmdir('/e');
    assert.equal(existsSync(H('e')), false);
    for (const p of ['/', '', '.', '/..', '/dir/..']) await rejectsVfs(vfs.rmdir(p), 'DENIED');
    assert.ok(statSync(sb.home).isDirectory());
  });

  test('rmdir of a non-empty folder, a file, or a missing name fails cleanly', async () => {
    await rejectsErrno(vfs.rmdir('/dir'), 'ENOTEMPTY');
    await rejectsErrno(vfs.rmdir('/file.txt'), 'ENOTDIR');
    assert.equal(await outcome(vfs.rmdir('/nope')), 'ENOENT');
    assert.equal(text('dir/inner.txt'), 'inner');
  });

  test('remove deletes a file; a folder is NOT_A_FILE and stays', async () => {
    await vfs.remove('/dir/inner.txt');
    assert.equal(existsSync(H('dir/inner.txt')), false);
    await rejectsVfs(vfs.remove('/dir'), 'NOT_A_FILE');
    assert.ok(statSync(H('dir')).isDirectory());
  });

  test('remove of "/" is refused like any folder (NOT_A_FILE)', async () => {
    await rejectsVfs(vfs.remove('/'), 'NOT_A_FILE');
  });

  test('remove of "/" never removes the home', async () => {
    assert.notEqual(await outcome(vfs.remove('/')), 'ok');
    assert.ok(statSync(sb.home).isDirectory());
  });
});

describe('statvfs', () => {
  test('returns numbers for "/" and for an existing path', async () => {
    for (const p of ['/', '/file.txt', '/dir']) {
      const s = await vfs.statvfs(p);
      for (const k of ['bsize', 'blocks', 'bfree', 'bavail', 'files', 'ffree'] as const) {
        assert.equal(typeof s[k], 'number', k);
        assert.ok(Number.isFinite(s[k]) && s[k] >= 0, k);
      }
      assert.ok(s.bsize > 0 && s.blocks > 0);
    }
  });

  test('outside paths are NOT_FOUND', async () => {
    symlinkSync('..', H('up'));
    await rejectsVfs(vfs.statvfs('/up'), 'NOT_FOUND');
    await rejectsVfs(vfs.statvfs('/up/outside'), 'NOT_FOUND');
  });
});

describe('names', () => {
  const bad = ['/a\u0000b', '/a\u0001b', '/a\nb', '/a\u007fb', '/\ufffd', '/' + 'a'.repeat(4096), '/x'.repeat(150_000)];

  test('unusable names are NOT_FOUND for every operation and create nothing', async () => {
    for (const p of bad) {
      await rejectsVfs(vfs.stat(p), 'NOT_FOUND');
      await rejectsVfs(vfs.open(p, flags('write', 'creat')), 'NOT_FOUND');
      await rejectsVfs(vfs.mkdir(p), 'NOT_FOUND');
      await rejectsVfs(vfs.rename('/file.txt', p, false), 'NOT_FOUND');
      await rejectsVfs(vfs.rename(p, '/x', false), 'NOT_FOUND');
      await rejectsVfs(vfs.setStat(p, { permissions: 0o777 }), 'NOT_FOUND');
      await rejectsVfs(vfs.remove(p), 'NOT_FOUND');
      await rejectsVfs(vfs.rmdir(p), 'NOT_FOUND');
      await rejectsVfs(vfs.openDir(p), 'NOT_FOUND');
      await rejectsVfs(vfs.readlink(p), 'NOT_FOUND');
    }
    assert.deepEqual(readdirSync(sb.home).sort(), ['dir', 'file.txt']);
  });

  test('a backslash name stays a literal name inside the home', async () => {
    const name = '..\\..\\outside\\secret.txt';
    const f = await vfs.open(name, flags('write', 'creat'));
    await f.write(0, Buffer.from('inside'));
    await f.close();
    assert.equal(readFileSync(H(name), 'utf8'), 'inside');
    assert.ok(readdirSync(sb.home).includes(name));
    assert.equal(await readAll(vfs, '/' + name), 'inside');
    await vfs.mkdir('dir\\..\\..\\x');
    assert.ok(statSync(H('dir\\..\\..\\x')).isDirectory());
    sb.assertUntouched();
  });

  test('an upload to ../../file lands in the home root (SFTPGo TestEscapeHomeDir)', async () => {
    const f = await vfs.open('../../escaped.txt', flags('write', 'creat'));
    await f.close();
    assert.ok(existsSync(H('escaped.txt')));
    sb.assertUntouched();
  });

  test('a 300-byte name is a clean fs error, not a crash', async () => {
    const long = '/' + 'n'.repeat(300);
    await rejectsVfs(vfs.stat(long), 'NOT_FOUND');
    await rejectsErrno(vfs.open(long, flags('write', 'creat')), 'ENAMETOOLONG');
    await rejectsErrno(vfs.mkdir(long), 'ENAMETOOLONG');
    await rejectsVfs(vfs.stat(long + '/x'), 'NOT_FOUND');
  });

  test('non-ASCII names are kept byte for byte (no normalisation)', async () => {
    await (await vfs.open('/e\u0301', flags('write', 'creat'))).close();
    await (await vfs.open('/\u00e9', flags('write', 'creat'))).close();
    assert.ok(readdirSync(sb.home).includes('e\u0301'));
    assert.ok(readdirSync(sb.home).includes('\u00e9'));
    assert.equal((await listNames(vfs, '/')).length, 4);
  });
});

describe('the outside', () => {
  test('canaries are unchanged and nothing new appeared outside the home', () => {
    sb.assertUntouched();
    assert.equal(readFileSync(join(sb.outside, 'secret.txt'), 'utf8'), 'CANARY');
    assert.deepEqual(readdirSync(sb.outside).sort(), ['dir', 'secret.txt']);
  });
});
