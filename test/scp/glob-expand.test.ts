/**
 * Expanding a download pattern against a folder (src/scp/glob-expand.ts) on a fake Vfs whose
 * listing is already in memory: which folder is read and how matches are named, when the word is
 * a plain name after all, each limit (pattern length, entries read, bytes of names held), that the
 * listing is closed, and that a huge hostile listing is matched over many short event-loop turns.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitShellWords, type ShellWord } from '../../src/scp/command.js';
import { expandPattern, MAX_GLOB_ENTRIES, MAX_GLOB_NAME_BYTES, type Expansion } from '../../src/scp/glob-expand.js';
import { MAX_PATTERN_BYTES } from '../../src/scp/glob.js';
import type { DirEntry, Vfs, VfsDir } from '../../src/vfs/vfs.js';

/** A Vfs with one folder per path; records what was opened and whether every listing was closed. */
function fakeVfs(folders: Record<string, string[]>) {
  const opened: string[] = [];
  let open = 0;
  const vfs = {
    async openDir(path: string): Promise<VfsDir> {
      const names = folders[path];
      if (!names) throw Object.assign(new Error('no such folder'), { code: 'ENOENT' });
      opened.push(path);
      open += 1;
      let at = 0;
      return {
        next: async (): Promise<DirEntry[] | null> => assert.fail('a pattern needs names only'),
        // Resolved at once, like a listing whose next names are buffered.
        names: async (max: number): Promise<string[] | null> => {
          if (at >= names.length) return null;
          const batch = names.slice(at, at + max);
          at += batch.length;
          return batch;
        },
        close: async () => void (open -= 1),
      };
    },
  } as unknown as Vfs;
  return { vfs, opened, stillOpen: () => open };
}

/** The pattern word of `scp -f WORD` as the command parser makes it. */
const word = (text: string): ShellWord => splitShellWords(`scp -f ${text}`)[2]!;

const matches = (e: Expansion) => (e.kind === 'matches' ? e : assert.fail(`expected matches, got ${JSON.stringify(e)}`));

describe('expanding a download pattern', () => {
  const home = ['a.txt', 'b.txt', '.hidden.txt', 'c.bin', 'docs'];

  it('lists the folder the pattern names and keeps the folder as typed for the names shown', async () => {
    const { vfs, opened, stillOpen } = fakeVfs({ '/': home, 'docs': ['x.txt', 'y.md'], '/docs': ['z.txt'] });
    assert.deepEqual(matches(await expandPattern(vfs, word('*.txt'))), { kind: 'matches', dir: '/', shownDir: '', names: ['a.txt', 'b.txt'] });
    assert.deepEqual(matches(await expandPattern(vfs, word('docs/*.txt'))), { kind: 'matches', dir: 'docs', shownDir: 'docs', names: ['x.txt'] });
    assert.deepEqual(matches(await expandPattern(vfs, word('/docs/*'))), { kind: 'matches', dir: '/docs', shownDir: '/docs', names: ['z.txt'] });
    assert.deepEqual(matches(await expandPattern(vfs, word('/*.bin'))), { kind: 'matches', dir: '/', shownDir: '/', names: ['c.bin'] });
    assert.deepEqual(matches(await expandPattern(vfs, word('~/.*'))).names, ['.hidden.txt']);
    assert.deepEqual(opened, ['/', 'docs', '/docs', '/', '/']);
    assert.equal(stillOpen(), 0, 'every listing closed');
  });

  it('is a name when malformed, in a missing folder, or matching nothing (sh passes the word on)', async () => {
    const { vfs, stillOpen } = fakeVfs({ '/': home });
    for (const text of ['*.none', 'nowhere/*.txt', '[z-a]*', '*/a.txt', "'*.txt'[z-a]"]) {
      const w = word(text);
      assert.notEqual(w.pattern, null, `${text} is a pattern word`);
      assert.deepEqual(await expandPattern(vfs, w), { kind: 'name' }, text);
    }
    assert.equal(stillOpen(), 0);
  });

  it(`refuses a last component over ${MAX_PATTERN_BYTES} bytes before listing anything`, async () => {
    const { vfs, opened } = fakeVfs({ '/': home });
    assert.deepEqual(await expandPattern(vfs, word('*' + 'a'.repeat(MAX_PATTERN_BYTES))), {
      kind: 'refused',
      reason: `pattern too long (more than ${MAX_PATTERN_BYTES} bytes)`,
    });
    assert.deepEqual(await expandPattern(vfs, word('*' + 'x'.repeat(MAX_PATTERN_BYTES - 1))), { kind: 'name' }, 'at the limit: compiled, listed, no match');
    assert.deepEqual(opened, ['/'], 'the refused pattern listed nothing');
  });

  it(`refuses a folder of more than ${MAX_GLOB_ENTRIES} entries, and sends none of its matches`, async () => {
    const many = Array.from({ length: MAX_GLOB_ENTRIES }, (_, i) => `f${i}`);
    const { vfs, stillOpen } = fakeVfs({ '/full': many, '/over': [...many, 'one-more'] });
    assert.equal(matches(await expandPattern(vfs, word('/full/f*'))).names.length, MAX_GLOB_ENTRIES);
    assert.deepEqual(await expandPattern(vfs, word('/over/x*')), {
      kind: 'refused',
      reason: `too many entries to match (more than ${MAX_GLOB_ENTRIES} in the folder)`,
    });
    assert.equal(stillOpen(), 0);
  });

  it(`refuses matches over ${MAX_GLOB_NAME_BYTES / 1024} KiB of names`, async () => {
    const long = (i: number) => `${String(i).padStart(5, '0')}${'n'.repeat(250)}`;
    const fits = Math.floor(MAX_GLOB_NAME_BYTES / 255);
    const { vfs } = fakeVfs({ '/fits': Array.from({ length: fits }, (_, i) => long(i)), '/over': Array.from({ length: fits + 1 }, (_, i) => long(i)) });
    assert.equal(matches(await expandPattern(vfs, word('/fits/*'))).names.length, fits);
    assert.deepEqual(await expandPattern(vfs, word('/over/*')), { kind: 'refused', reason: 'too many glob matches' });
  });

  it('matches a full folder of hostile names against the attack over many short turns', async (t) => {
    const names = Array.from({ length: MAX_GLOB_ENTRIES }, (_, i) => `${i}`.padEnd(255, 'a'));
    const { vfs } = fakeVfs({ '/g': names });
    let turns = 0;
    let longest = 0;
    let last = performance.now();
    let done = false;
    const tick = () => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
      turns += 1;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    const started = performance.now();
    const result = await expandPattern(vfs, word('/g/*a*a*a*a*a*a*a*a*b'));
    const total = performance.now() - started;
    done = true;
    assert.deepEqual(result, { kind: 'name' });
    t.diagnostic(`${MAX_GLOB_ENTRIES} names of 255 bytes: ${total.toFixed(0)} ms in ${turns} turns, the longest ${longest.toFixed(1)} ms`);
    assert.ok(turns >= 10, `${turns} turns of the event loop ran meanwhile`);
    // Matching yields every 2 ms; the margin is for a loaded 2-core machine preempting the test.
    assert.ok(longest < 100, `longest turn ${longest.toFixed(1)} ms (whole expansion ${total.toFixed(0)} ms)`);
  });
});
