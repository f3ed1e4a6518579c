/**
 * The jail, table-driven (security catalog §1): many spellings of a path that leads outside the
 * home, times every Vfs operation. For each spelling three paths are tried on a freshly built home:
 * one reaching an existing thing outside, the same spelling reaching a missing thing outside, and an
 * inside "twin" that is simply missing (a missing parent folder, or a dangling link for a link in the
 * last component). All three must end the same way (no existence oracle), and after every single
 * operation nothing outside the home may have changed.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import fc from 'fast-check';
import { Jail } from '../../src/vfs/jail.js';
import { LocalVfs } from '../../src/vfs/local-vfs.js';
import { VfsError } from '../../src/vfs/vfs-error.js';
import { CANARIES, flags, makeSandbox, outcome, rejectsVfs, TEST_METADATA_IO, type Sandbox } from './sandbox.js';

let sb: Sandbox;
let vfs: LocalVfs; // symlinks enabled, so SYMLINK is jailed too rather than refused outright

before(async () => {
  sb = makeSandbox();
  vfs = await LocalVfs.create(sb.home, { symlinks: true, metadataIo: TEST_METADATA_IO });
});

after(() => sb.cleanup());

describe('Jail.contains and toVirtual compare by path component', () => {
  // A temp folder of its own: the sandbox's fingerprint covers everything outside its home.
  let tmp: string;
  let root: string;
  let jail: Jail;
  before(async () => {
    tmp = realpathSync(mkdtempSync(join(tmpdir(), 'coffer-jail-')));
    root = join(tmp, 'x', 'alice');
    mkdirSync(root, { recursive: true });
    mkdirSync(join(tmp, 'x', 'alice2'), { recursive: true });
    jail = await Jail.open(root);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('the root and anything below it are inside', () => {
    assert.equal(jail.root, root);
    assert.equal(jail.contains(root), true);
    assert.equal(jail.contains(join(root, 'a')), true);
    assert.equal(jail.contains(join(root, 'a', 'b', 'c')), true);
    assert.equal(jail.contains(root + sep), true);
  });

  test('a sibling sharing the prefix is outside (Erlang CVE-2026-23942)', () => {
    assert.equal(jail.contains(join(tmp, 'x', 'alice2', 'secret')), false);
    assert.equal(jail.contains(join(tmp, 'x', 'alice2')), false);
    assert.equal(jail.contains(root + '2'), false);
    assert.equal(jail.contains(root + '.bak/x'), false);
    assert.equal(jail.toVirtual(join(tmp, 'x', 'alice2', 'secret')), null);
  });

  test('the parent, its siblings and unrelated paths are outside', () => {
    assert.equal(jail.contains(join(tmp, 'x')), false);
    assert.equal(jail.contains(join(root, '..')), false);
    assert.equal(jail.contains(join(root, '..', 'other')), false);
    assert.equal(jail.contains('/etc/passwd'), false);
    assert.equal(jail.contains('/'), false);
  });

  test('names that merely start with ".." are inside', () => {
    assert.equal(jail.contains(join(root, '..foo')), true);
    assert.equal(jail.contains(join(root, '...')), true);
    assert.equal(jail.toVirtual(join(root, '..foo', 'x')), '/..foo/x');
  });

  test('the fast check of canonical paths agrees with the component comparison (property)', () => {
    // contains() answers canonical paths by a prefix and a '/', anything else through relative():
    // both must give what comparing components gives, for paths built from the root's own
    // components, look-alike siblings, dots and doubled slashes.
    const rootParts = root.split('/').filter(Boolean);
    const tails = ['alice2', 'alic', 'a', '.', '..', '...', '..foo', ''];
    const byComponents = (p: string): boolean => {
      const rel = relative(root, p);
      return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !rel.startsWith('/'));
    };
    fc.assert(
      // The first k components of the root (all of them, mostly), then anything.
      fc.property(fc.nat(rootParts.length + 3), fc.array(fc.constantFrom(...tails), { maxLength: 6 }), fc.boolean(), (k, tail, trailing) => {
        const p = '/' + [...rootParts.slice(0, Math.min(k, rootParts.length)), ...tail].join('/') + (trailing ? '/' : '');
        assert.equal(jail.contains(p), byComponents(p), p);
      }),
      { numRuns: 3000 },
    );
  });

  test('toVirtual gives the virtual path of inside host paths', () => {
    assert.equal(jail.toVirtual(root), '/');
    assert.equal(jail.toVirtual(join(root, 'a', 'b')), '/a/b');
    assert.equal(jail.toVirtual('/etc'), null);
  });

  test('a home reached through a symlink is jailed on its real path', async () => {
    const viaLink = join(tmp, 'x', 'alice-link');
    symlinkSync(root, viaLink);
    const j = await Jail.open(viaLink);
    assert.equal(j.root, root);
    assert.equal(j.contains(join(root, 'f')), true);
    assert.equal(j.contains(join(viaLink, 'f')), false); // callers always pass real paths
  });

  test('parent() refuses a missing or outside parent with NOT_FOUND', async () => {
    mkdirSync(join(root, 'd'), { recursive: true });
    symlinkSync('../alice2', join(root, 'sib'));
    assert.deepEqual(await jail.parent('/'), { dir: root, name: '', path: root });
    assert.deepEqual(await jail.parent('/d/f'), { dir: join(root, 'd'), name: 'f', path: join(root, 'd', 'f') });
    await rejectsVfs(jail.parent('/missing/f'), 'NOT_FOUND');
    await rejectsVfs(jail.parent('/sib/secret'), 'NOT_FOUND');
  });

  test('existing() follows a last-component link only inside the home', async () => {
    writeFileSync(join(root, 'f'), 'x');
    symlinkSync('f', join(root, 'in'));
    symlinkSync('../alice2/secret', join(root, 'out'));
    assert.equal(await jail.existing('/in', true), join(root, 'f'));
    assert.equal(await jail.existing('/in', false), join(root, 'in'));
    assert.equal(await jail.existing('/out', false), join(root, 'out'));
    await rejectsVfs(jail.existing('/out', true), 'NOT_FOUND');
    await rejectsVfs(jail.existing('/nothing', false), 'NOT_FOUND');
  });
});

// ---------------------------------------------------------------------------------------------
// The escape table.

/** Builds the home every table case starts from. */
function buildHome(): void {
  const { home, outside, box } = sb;
  const rel = (to: string, from = home): string => relative(from, to);
  writeFileSync(join(home, 'victim.txt'), 'victim');
  mkdirSync(join(home, 'dir'));
  mkdirSync(join(home, 'deep', 'er'), { recursive: true });
  const links: Array<[string, string]> = [
    // Links in a parent component.
    ['out', outside], // absolute, to an outside folder
    ['out-missing', join(box, 'no-such-folder')],
    ['relout', rel(outside)], // ../outside
    ['up', '..'],
    ['sib', rel(sb.home2)], // ../home2: the prefix trick
    ['deep/er/upup', '../../..'],
    // Links in the last component.
    ['evil-abs', join(outside, 'secret.txt')],
    ['evil-abs-missing', join(outside, 'nope.txt')],
    ['evil-rel', rel(join(outside, 'secret.txt'))],
    ['evil-rel-missing', rel(join(outside, 'nope.txt'))],
    ['evil-dir', rel(join(outside, 'dir'))],
    ['evil-dir-missing', rel(join(outside, 'nodir'))],
    ['evil-sib', rel(join(sb.home2, 'secret.txt'))],
    ['evil-sib-missing', rel(join(sb.home2, 'nope.txt'))],
    ['evil-etc', '/etc/passwd'],
    ['evil-etc-missing', '/etc/no-such-file-coffer'],
    ['chain', 'evil-rel'],
    ['chain-missing', 'evil-rel-missing'],
    ['dir/nested', '../../outside/secret.txt'],
    ['dir/nested-missing', '../../outside/nope.txt'],
    // Inside twins: dangling links that stay inside.
    ['dangling', 'nothing-here'],
    ['dangling-dir', 'no-such-dir'],
    ['dir/dangling', 'nothing-here'],
  ];
  for (const [name, target] of links) symlinkSync(target, join(home, name));
}

type OpName =
  | 'stat'
  | 'lstat'
  | 'open read'
  | 'open write+creat'
  | 'open creat+excl'
  | 'open append+creat'
  | 'open write+trunc'
  | 'openDir'
  | 'mkdir'
  | 'rmdir'
  | 'remove'
  | 'rename from'
  | 'rename to'
  | 'posix-rename to'
  | 'setStat chmod'
  | 'setStat size'
  | 'setStat times'
  | 'setStat uid'
  | 'readlink'
  | 'symlink at'
  | 'symlink to'
  | 'statvfs';

/** What the operations returned that a client would see, checked for leaks after each run. */
const seen: string[] = [];

async function readAll(path: string): Promise<void> {
  const f = await vfs.open(path, flags('read'));
  try {
    const data = await f.read(0, 4096);
    if (data) seen.push(data.toString('latin1'));
  } finally {
    await f.close();
  }
}

async function writeVia(path: string, ...names: Array<'write' | 'creat' | 'excl' | 'append' | 'trunc'>): Promise<void> {
  const f = await vfs.open(path, flags(...names), { permissions: 0o644 });
  try {
    await f.write(0, Buffer.from('PWNED'));
  } finally {
    await f.close();
  }
}

const OPS: Record<OpName, (p: string) => Promise<unknown>> = {
  stat: (p) => vfs.stat(p),
  lstat: (p) => vfs.lstat(p),
  'open read': (p) => readAll(p),
  'open write+creat': (p) => writeVia(p, 'write', 'creat'),
  'open creat+excl': (p) => writeVia(p, 'write', 'creat', 'excl'),
  'open append+creat': (p) => writeVia(p, 'append', 'creat'),
  'open write+trunc': (p) => writeVia(p, 'write', 'trunc'),
  openDir: async (p) => {
    const d = await vfs.openDir(p);
    try {
      for (let batch = await d.next(100); batch; batch = await d.next(100)) seen.push(...batch.map((e) => e.name));
    } finally {
      await d.close();
    }
  },
  mkdir: (p) => vfs.mkdir(p, { permissions: 0o755 }),
  rmdir: (p) => vfs.rmdir(p),
  remove: (p) => vfs.remove(p),
  'rename from': (p) => vfs.rename(p, '/renamed', false),
  'rename to': (p) => vfs.rename('/victim.txt', p, false),
  'posix-rename to': (p) => vfs.rename('/victim.txt', p, true),
  'setStat chmod': (p) => vfs.setStat(p, { permissions: 0o4777 }),
  'setStat size': (p) => vfs.setStat(p, { size: 0 }),
  'setStat times': (p) => vfs.setStat(p, { atime: 1000, mtime: 1000 }),
  'setStat uid': (p) => vfs.setStat(p, { uid: 4242, gid: 4242 }),
  readlink: async (p) => seen.push(await vfs.readlink(p)),
  'symlink at': (p) => vfs.symlink('victim.txt', p),
  'symlink to': async (p) => {
    await vfs.symlink(p, '/newlink');
    await readAll('/newlink');
  },
  statvfs: (p) => vfs.statvfs(p),
};

interface Spelling {
  label: string;
  /** Reaches something that exists outside the home. */
  outside: string;
  /** The same spelling, reaching something missing outside. */
  missing?: string;
  /** A missing path inside the home that must answer the same way. */
  twin: string;
  /** Operations whose expected outcome is fixed rather than the twin's. */
  expect?: Partial<Record<OpName, string>>;
}

// READLINK of a link that leads outside is NOT_FOUND by contract (vfs.ts), whereas a dangling
// inside link reads fine; SYMLINK to a target that climbs above "/" is DENIED.
const LAST = { readlink: 'NOT_FOUND' } as const;
const CLIMBS = { 'symlink to': 'DENIED' } as const;

function spellings(): Spelling[] {
  const o = sb.outside;
  return [
    // A link in a parent component.
    { label: 'absolute link to an outside folder, then a name', outside: '/out/secret.txt', missing: '/out/nope.txt', twin: '/nodir/secret.txt' },
    { label: 'the same, with a sub-folder', outside: '/out/dir/inner.txt', missing: '/out/dir/nope.txt', twin: '/nodir/dir/inner.txt' },
    { label: 'link to a missing outside folder, then a name', outside: '/out-missing/x', twin: '/nodir/x' },
    { label: 'relative link to an outside folder (relout -> ../outside)', outside: '/relout/secret.txt', missing: '/relout/nope.txt', twin: '/nodir/secret.txt' },
    { label: 'up -> .., then up/outside/secret.txt', outside: '/up/outside/secret.txt', missing: '/up/outside/nope.txt', twin: '/nodir/outside/secret.txt' },
    { label: 'up -> .., then a new name next to the home (up/x)', outside: '/up/outside', missing: '/up/x', twin: '/nodir/x' },
    { label: 'up -> .., twice through itself', outside: '/up/home/up/outside/secret.txt', missing: '/up/home/up/nope.txt', twin: '/nodir/home/up/outside/secret.txt' },
    { label: 'sibling with the home as prefix (sib -> ../home2)', outside: '/sib/secret.txt', missing: '/sib/nope.txt', twin: '/nodir/secret.txt' },
    { label: 'deep link climbing three levels', outside: '/deep/er/upup/outside/secret.txt', missing: '/deep/er/upup/nope.txt', twin: '/deep/er/nodir/outside/secret.txt' },
    { label: 'a last-component link to an outside folder, then a name', outside: '/evil-dir/inner.txt', missing: '/evil-dir/nope.txt', twin: '/nodir/inner.txt' },
    { label: 'an outside file used as a folder', outside: '/evil-rel/x', missing: '/evil-rel-missing/x', twin: '/dangling/x' },
    // A link in the last component.
    { label: 'absolute link to an outside file', outside: '/evil-abs', missing: '/evil-abs-missing', twin: '/dangling', expect: LAST },
    { label: 'relative link to an outside file', outside: '/evil-rel', missing: '/evil-rel-missing', twin: '/dangling', expect: LAST },
    { label: 'link to /etc/passwd', outside: '/evil-etc', missing: '/evil-etc-missing', twin: '/dangling', expect: LAST },
    { label: 'link to a file of the prefix sibling', outside: '/evil-sib', missing: '/evil-sib-missing', twin: '/dangling', expect: LAST },
    { label: 'link to an outside folder', outside: '/evil-dir', missing: '/evil-dir-missing', twin: '/dangling-dir', expect: LAST },
    { label: 'absolute link to the outside folder', outside: '/out', missing: '/out-missing', twin: '/dangling-dir', expect: LAST },
    { label: 'up -> .. itself', outside: '/up', twin: '/dangling-dir', expect: LAST },
    { label: 'link in a sub-folder', outside: '/dir/nested', missing: '/dir/nested-missing', twin: '/dir/dangling', expect: LAST },
    { label: 'a chain of two links', outside: '/chain', missing: '/chain-missing', twin: '/dangling' },
    // Spellings that normalise to a (missing) path inside the home.
    { label: '../outside/secret.txt', outside: '../outside/secret.txt', missing: '../outside/nope.txt', twin: '/nodir/secret.txt', expect: CLIMBS },
    { label: '/../outside/secret.txt', outside: '/../outside/secret.txt', missing: '/../outside/nope.txt', twin: '/nodir/secret.txt', expect: CLIMBS },
    { label: 'many ..', outside: '../../../../../../..' + o + '/secret.txt', missing: '../../../../../../..' + o + '/nope.txt', twin: '/nodir/secret.txt', expect: CLIMBS },
    { label: 'the host path of the outside file', outside: o + '/secret.txt', missing: o + '/nope.txt', twin: '/nodir/secret.txt' },
    { label: '//..//outside//secret.txt', outside: '//..//outside//secret.txt', missing: '//..//outside//nope.txt', twin: '/nodir/secret.txt', expect: CLIMBS },
    { label: 'dir/../../outside/secret.txt', outside: 'dir/../../outside/secret.txt', missing: 'dir/../../outside/nope.txt', twin: '/nodir/secret.txt', expect: CLIMBS },
    { label: '/etc/passwd', outside: '/etc/passwd', missing: '/etc/no-such-file-coffer', twin: '/nodir/passwd' },
    { label: '../escaped (lands in the home root)', outside: '../escaped', missing: '/../../escaped', twin: '/missing', expect: CLIMBS },
    { label: 'backslashes are literal', outside: '..\\..\\outside\\secret.txt', missing: '..\\..\\outside\\nope.txt', twin: '/missing' },
    { label: 'backslashes after a dir', outside: 'dir\\..\\..\\outside\\secret.txt', missing: 'dir\\..\\..\\x', twin: '/missing' },
    { label: 'fullwidth dots', outside: '\uff0e\uff0e\uff0foutside\uff0fsecret.txt', twin: '/missing' },
    { label: 'NUL then ../', outside: 'ok\u0000/../../outside/secret.txt', missing: '/evil-rel\u0000', twin: '/bad\u0001name' },
    { label: 'newline', outside: '/up\n/outside/secret.txt', twin: '/bad\u007fname' },
    { label: 'U+FFFD (overlong ../ decoded by ssh2)', outside: '/\ufffd\ufffd/outside/secret.txt', twin: '/\ufffd' },
    { label: 'a 300 KB path', outside: '/up'.repeat(100_000) + '/outside/secret.txt', twin: '/x'.repeat(2049) },
    // Above the root clamps to the root.
    { label: '/.. is /', outside: '/..', missing: '../../..', twin: '/', expect: { 'symlink to': 'DENIED' } },
    { label: '/up/.. is / (lexical)', outside: '/up/..', twin: '/' },
  ];
}

describe('escape table: outside answers exactly like missing, and touches nothing', () => {
  const run = async (op: OpName, path: string): Promise<string> => {
    sb.emptyHome();
    buildHome();
    const result = await outcome(OPS[op](path));
    sb.assertUntouched();
    return result;
  };

  for (const s of spellings()) {
    describe(s.label, () => {
      for (const op of Object.keys(OPS) as OpName[]) {
        test(op, async () => {
          const got = await run(op, s.outside);
          const gotMissing = s.missing === undefined ? got : await run(op, s.missing);
          const want = s.expect?.[op] ?? (await run(op, s.twin));
          assert.equal(got, want, `outside path ${JSON.stringify(s.outside.slice(0, 80))}`);
          assert.equal(gotMissing, want, `missing outside path ${JSON.stringify(s.missing?.slice(0, 80))}`);
        });
      }
    });
  }
});

describe('nothing outside leaked into any answer', () => {
  test('no read returned a canary, no listing named an outside file, no readlink a host path', () => {
    assert.ok(seen.length > 0, 'the table produced answers');
    for (const s of seen) {
      for (const c of CANARIES) assert.ok(!s.includes(c), `leaked ${c}: ${s}`);
      assert.ok(!s.includes(sb.tmp), `host path in ${s}`);
      assert.notEqual(s, 'secret.txt');
      assert.notEqual(s, 'inner.txt');
    }
  });

  test('an error never carries a host path', async () => {
    sb.emptyHome();
    buildHome();
    for (const p of ['/evil-abs', '/out/secret.txt', '/up/outside', '/sib/secret.txt']) {
      for (const op of ['stat', 'open read', 'openDir', 'setStat chmod', 'readlink', 'symlink at'] as const) {
        try {
          await OPS[op](p);
        } catch (err) {
          if (err instanceof VfsError) assert.ok(!err.message.includes(sb.tmp), err.message);
        }
      }
    }
  });

  test('everything outside the home is as it was', () => {
    sb.assertUntouched();
  });
});
