/**
 * MemoryVfs and LocalVfs agree on random sequences of namespace and file operations over a few
 * names (fast-check, fixed seed): every step ends the same way (ok, or the same code and message
 * through toVfsError) and the trees are the same afterwards. The contract suite states the rules;
 * this finds the cases it did not think of. COFFER_FUZZ_RUNS=N runs more, COFFER_FUZZ_SEED=S others.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { LocalVfs } from '../../src/vfs/local-vfs.js';
import { MemoryVfs } from '../../src/vfs/memory-vfs.js';
import type { OpenFlags, Vfs } from '../../src/vfs/vfs.js';
import { toVfsError } from '../../src/vfs/vfs-error.js';

const SEED = Number(process.env.COFFER_FUZZ_SEED ?? 0x7f5);
const RUNS = Number(process.env.COFFER_FUZZ_RUNS ?? 150);
const PATHS = ['/', '/a', '/b', '/a/b', '/b/a', '/a/b/a', '/a/..', 'b/../a/b'];

const F = (...names: Array<keyof OpenFlags>): OpenFlags => {
  const f: OpenFlags = { read: false, write: false, append: false, creat: false, trunc: false, excl: false };
  for (const name of names) f[name] = true;
  return f;
};

/** One step, applied to a Vfs: resolves what it observed (a size, a listing, or nothing). */
type Step = { name: string; run(vfs: Vfs): Promise<unknown> };

const path = fc.constantFrom(...PATHS);
const write = (flags: OpenFlags, offset: number, text: string) => async (vfs: Vfs, p: string) => {
  const f = await vfs.open(p, flags);
  try {
    await f.write(offset, Buffer.from(text));
    return (await f.stat()).size;
  } finally {
    await f.close();
  }
};
const step: fc.Arbitrary<Step> = fc.oneof(
  path.map((p) => ({ name: `mkdir ${p}`, run: (v: Vfs) => v.mkdir(p) })),
  path.map((p) => ({ name: `rmdir ${p}`, run: (v: Vfs) => v.rmdir(p) })),
  path.map((p) => ({ name: `remove ${p}`, run: (v: Vfs) => v.remove(p) })),
  fc.tuple(path, path, fc.boolean()).map(([p, q, o]) => ({ name: `rename ${p} ${q} ${o}`, run: (v: Vfs) => v.rename(p, q, o) })),
  fc.tuple(path, fc.constantFrom(F('write', 'creat', 'trunc'), F('write', 'creat', 'excl'), F('write', 'append'), F('read', 'write')), fc.nat(8)).map(
    ([p, flags, off]) => ({ name: `write ${p} ${JSON.stringify(flags)} @${off}`, run: (v: Vfs) => write(flags, off, 'xyz')(v, p) }),
  ),
  fc.tuple(path, fc.nat(6)).map(([p, size]) => ({ name: `setstat ${p} size ${size}`, run: (v: Vfs) => v.setStat(p, { size }) })),
  fc.tuple(path, fc.constantFrom(0o600, 0o755)).map(([p, mode]) => ({ name: `chmod ${p} ${mode.toString(8)}`, run: (v: Vfs) => v.setStat(p, { permissions: mode }) })),
  path.map((p) => ({ name: `read ${p}`, run: (v: Vfs) => content(v, p) })),
  path.map((p) => ({ name: `stat ${p}`, run: async (v: Vfs) => kindOf(await v.stat(p)) })),
  path.map((p) => ({ name: `list ${p}`, run: (v: Vfs) => tree(v, p) })),
  path.map((p) => ({ name: `readlink ${p}`, run: (v: Vfs) => v.readlink(p) })),
);

function kindOf(st: { isDirectory(): boolean; size: number; mode: number }): string {
  return `${st.isDirectory() ? 'dir' : `file ${st.size}`} ${(st.mode & 0o777).toString(8)}`;
}

/** Every entry under `p` with its kind, and each file's content, sorted. */
async function tree(vfs: Vfs, p: string): Promise<string[]> {
  const out: string[] = [];
  const dir = await vfs.openDir(p);
  try {
    for (let batch = await dir.next(3); batch; batch = await dir.next(3)) {
      for (const e of batch) {
        const child = `${p === '/' ? '' : p}/${e.name}`;
        if (e.stats.isDirectory()) out.push(`${child}/`, ...(await tree(vfs, child)));
        else out.push(`${child} ${await content(vfs, child)}`);
      }
    }
  } finally {
    await dir.close();
  }
  return out.sort();
}

async function content(vfs: Vfs, p: string): Promise<string> {
  const f = await vfs.open(p, F('read'));
  try {
    return JSON.stringify((await f.read(0, 100))?.toString() ?? '');
  } finally {
    await f.close();
  }
}

/** How a step ended, as a client sees it. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    return `ok ${JSON.stringify((await p) ?? null)}`;
  } catch (err) {
    const e = toVfsError(err);
    return `${e.code} ${e.message}`;
  }
}

let tmp: string;
before(() => {
  tmp = realpathSync(mkdtempSync(join(tmpdir(), 'coffer-agreement-')));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

test('MemoryVfs and LocalVfs agree, step by step and in the tree they leave', async () => {
  let n = 0;
  const prevUmask = process.umask(0o022);
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        const home = join(tmp, `h${n++}`);
        mkdirSync(home);
        const local = await LocalVfs.create(home, { symlinks: false });
        const memory = new MemoryVfs();
        for (const s of steps) {
          const [got, want] = [await outcome(s.run(memory)), await outcome(s.run(local))];
          assert.equal(got, want, s.name);
        }
        assert.deepEqual(await tree(memory, '/'), await tree(local, '/'));
        rmSync(home, { recursive: true, force: true });
      }),
      { seed: SEED, numRuns: RUNS, includeErrorInReport: true },
    );
  } finally {
    process.umask(prevUmask);
  }
});
