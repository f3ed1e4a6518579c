/**
 * READLINK and SYMLINK text (issue 21, fix 1): a relative link reads back as stored, as OpenSSH's
 * sftp-server answers, so a client copying a tree keeps it relative; an absolute host path inside
 * the home reads back as its virtual path; anything that leads outside, or whose text climbs out
 * of the home and back, is NOT_FOUND. SYMLINK stores the client's relative text when it means the
 * same place, so it reads back as sent.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { LocalVfs } from '../../src/vfs/local-vfs.js';
import { makeSandbox, rejectsVfs, type Sandbox } from './sandbox.js';

let sb: Sandbox;
let vfs: LocalVfs; // symlinks on
let H: (p: string) => string;

before(async () => {
  sb = makeSandbox();
  vfs = await LocalVfs.create(sb.home, { symlinks: true });
  H = (p) => join(sb.home, p);
});
after(() => sb.cleanup());

beforeEach(() => {
  sb.emptyHome();
  writeFileSync(H('inner.txt'), 'inner');
  mkdirSync(H('docs/v2'), { recursive: true });
  writeFileSync(H('docs/v2/guide.md'), 'guide');
});

describe('READLINK of links already in the home', () => {
  test('the issue: lnk -> inner.txt and docs/latest -> v2/guide.md read back as stored', async () => {
    symlinkSync('inner.txt', H('lnk'));
    symlinkSync('v2/guide.md', H('docs/latest'));
    assert.equal(await vfs.readlink('/lnk'), 'inner.txt');
    assert.equal(await vfs.readlink('/docs/latest'), 'v2/guide.md');
    assert.equal(await vfs.readlink('docs/../docs/latest'), 'v2/guide.md');
  });

  test('relative texts with .. and . that stay inside read back as stored', async () => {
    symlinkSync('../inner.txt', H('docs/up'));
    symlinkSync('../../docs/v2/./guide.md', H('docs/v2/round'));
    symlinkSync('..', H('docs/parent'));
    symlinkSync('./v2/', H('docs/here'));
    assert.equal(await vfs.readlink('/docs/up'), '../inner.txt');
    assert.equal(await vfs.readlink('/docs/v2/round'), '../../docs/v2/./guide.md');
    assert.equal(await vfs.readlink('/docs/parent'), '..');
    assert.equal(await vfs.readlink('/docs/here'), './v2/');
  });

  test('an absolute host path inside the home reads back as the virtual path (an admin-made link)', async () => {
    symlinkSync(H('docs/v2/guide.md'), H('abs'));
    symlinkSync(H('docs'), H('docs/v2/absdir'));
    symlinkSync(join(sb.box, 'outside', '..', 'home', 'inner.txt'), H('abs-via-outside'));
    assert.equal(await vfs.readlink('/abs'), '/docs/v2/guide.md');
    assert.equal(await vfs.readlink('/docs/v2/absdir'), '/docs');
    assert.equal(await vfs.readlink('/abs-via-outside'), '/inner.txt'); // the place, never the text
  });

  test('a relative text that climbs out of the home and comes back is NOT_FOUND (it names host folders)', async () => {
    const home = basename(sb.home);
    symlinkSync(`../${home}/inner.txt`, H('back-in'));
    symlinkSync(`../../${basename(sb.box)}/${home}/docs`, H('docs/back-in'));
    for (const p of ['/back-in', '/docs/back-in']) await rejectsVfs(vfs.readlink(p), 'NOT_FOUND');
  });

  test('texts leading outside, lexically or through other links, stay NOT_FOUND', async () => {
    symlinkSync('../outside/secret.txt', H('out'));
    symlinkSync(join(sb.outside, 'secret.txt'), H('abs-out'));
    symlinkSync('/', H('slash'));
    symlinkSync('..', H('up'));
    symlinkSync('up/outside/secret.txt', H('via-up')); // lexically inside, really outside
    symlinkSync('up/home/inner.txt', H('via-up-back')); // really inside, through the host folder
    symlinkSync('nodir/../up/home/inner.txt', H('via-missing')); // the same detour behind a missing folder
    symlinkSync('../../..', H('docs/v2/too-far'));
    for (const p of ['/out', '/abs-out', '/slash', '/up', '/via-up', '/via-up-back', '/via-missing', '/docs/v2/too-far']) {
      await rejectsVfs(vfs.readlink(p), 'NOT_FOUND');
    }
    sb.assertUntouched();
  });

  test('a text through folder links that stay inside reads back as stored', async () => {
    symlinkSync('docs/v2', H('v'));
    symlinkSync('v/guide.md', H('through'));
    symlinkSync('v/../v2/guide.md', H('around')); // v/.. is docs for real, / lexically: both inside
    assert.equal(await vfs.readlink('/through'), 'v/guide.md');
    assert.equal(await vfs.readlink('/around'), 'v/../v2/guide.md');
  });

  test('a text of more than 64 folders answers the virtual path it reaches', async () => {
    symlinkSync('./'.repeat(10) + 'docs/' + 'v2/../'.repeat(70) + 'v2/guide.md', H('long'));
    assert.equal(await vfs.readlink('/long'), '/docs/v2/guide.md');
  });

  test('the lexical check uses the folder the link really is in (reached through a folder link)', async () => {
    symlinkSync('docs/v2', H('v'));
    symlinkSync('../../inner.txt', H('docs/v2/deep'));
    // /v/deep is /docs/v2/deep: ../../inner.txt from /docs/v2 is /inner.txt, inside.
    assert.equal(await vfs.readlink('/v/deep'), '../../inner.txt');
    assert.equal(await vfs.readlink('/docs/v2/deep'), '../../inner.txt');
  });
});

describe('SYMLINK stores what reads back', () => {
  test('ln -s inner.txt lnk, ln -s v2/guide.md docs/latest: stored and read back as sent', async () => {
    await vfs.symlink('inner.txt', '/lnk');
    await vfs.symlink('v2/guide.md', '/docs/latest');
    assert.equal(readlinkSync(H('lnk')), 'inner.txt');
    assert.equal(readlinkSync(H('docs/latest')), 'v2/guide.md');
    assert.equal(await vfs.readlink('/lnk'), 'inner.txt');
    assert.equal(await vfs.readlink('/docs/latest'), 'v2/guide.md');
  });

  test('relative spellings that are not the shortest are kept (a mirror copies ../docs/v2 as it was)', async () => {
    for (const [target, link] of [
      ['../docs/v2/guide.md', '/docs/mirror'],
      ['./inner.txt', '/dot'],
      ['../inner.txt', '/docs/up'],
      ['v2/', '/docs/slash'],
      ['..', '/docs/v2/parent'],
    ] as const) {
      await vfs.symlink(target, link);
      assert.equal(readlinkSync(H(link.slice(1))), target, `stored ${link}`);
      assert.equal(await vfs.readlink(link), target, `read back ${link}`);
    }
  });

  test('an absolute virtual target is stored relative and reads back relative', async () => {
    await vfs.symlink('/docs/v2/guide.md', '/docs/abs');
    assert.equal(readlinkSync(H('docs/abs')), 'v2/guide.md');
    assert.equal(await vfs.readlink('/docs/abs'), 'v2/guide.md');
  });

  test('a text whose real meaning differs from its lexical one is stored as the lexical place', async () => {
    // sub -> docs/v2: the kernel reads sub/../inner.txt as docs/inner.txt, the client meant /inner.txt.
    symlinkSync('docs/v2', H('sub'));
    await vfs.symlink('sub/../inner.txt', '/l');
    assert.equal(readlinkSync(H('l')), 'inner.txt');
    assert.equal(await vfs.readlink('/l'), 'inner.txt');
    // In a folder reached through a link, the target is read from the folder the client named.
    await vfs.symlink('../inner.txt', '/sub/l2'); // /sub/../inner.txt = /inner.txt
    assert.equal(readlinkSync(H('docs/v2/l2')), '../../inner.txt');
    assert.equal(await vfs.readlink('/sub/l2'), '../../inner.txt');
  });
});
