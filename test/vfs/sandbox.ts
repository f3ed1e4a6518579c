/**
 * A temp folder for the jail tests: `box/home` is the jail, `box/outside` and the sibling
 * `box/home2` (the prefix trick) hold canary files, and the whole temp folder outside the home is
 * fingerprinted so a test can prove nothing outside was read into, written, created, chmodded or
 * deleted (content, mode, size, mtime and ctime of every entry; folders' mtime catches an entry that
 * was created and then removed again).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { OpenFlags } from '../../src/vfs/vfs.js';
import { VfsError } from '../../src/vfs/vfs-error.js';

/** The folders of one sandbox (all real paths, no symlink on the way). */
export interface Sandbox {
  tmp: string;
  box: string;
  home: string;
  home2: string;
  outside: string;
  /** Fails when anything outside `home` differs from when the sandbox was made. */
  assertUntouched(): void;
  /** Removes every entry of the home (the home folder itself stays: the Vfs holds its realpath). */
  emptyHome(): void;
  cleanup(): void;
}

/**
 * The metadataIo the jail and LocalVfs suites run with: 'auto' (the event loop on the local temp
 * folder), or what COFFER_TEST_METADATA_IO says ('async': the thread pool, as on NFS; the
 * *-async.test.ts files run those suites again that way).
 */
export const TEST_METADATA_IO = (process.env.COFFER_TEST_METADATA_IO ?? 'auto') as 'auto' | 'sync' | 'async';

/** The canary texts, so tests can check no read ever returned them. */
export const CANARIES = ['CANARY', 'CANARY-INNER', 'CANARY-SIBLING', 'CANARY-TOP'];

/** Makes a fresh sandbox under os.tmpdir(). */
export function makeSandbox(): Sandbox {
  const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'coffer-vfs-')));
  const box = join(tmp, 'box');
  const home = join(box, 'home');
  const home2 = join(box, 'home2');
  const outside = join(box, 'outside');
  for (const d of [home, home2, join(outside, 'dir')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(outside, 'secret.txt'), 'CANARY');
  writeFileSync(join(outside, 'dir', 'inner.txt'), 'CANARY-INNER');
  writeFileSync(join(home2, 'secret.txt'), 'CANARY-SIBLING');
  writeFileSync(join(tmp, 'top.txt'), 'CANARY-TOP');
  const baseline = fingerprint(tmp, home);
  return {
    tmp,
    box,
    home,
    home2,
    outside,
    assertUntouched: () => assert.deepEqual(fingerprint(tmp, home), baseline, 'something outside the home changed'),
    emptyHome: () => {
      for (const name of readdirSync(home)) rmSync(join(home, name), { recursive: true, force: true });
    },
    cleanup: () => rmSync(tmp, { recursive: true, force: true }),
  };
}

/** One line per entry under `root` (except the subtree `skip`), sorted by path. */
function fingerprint(root: string, skip: string): string[] {
  const lines: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (p === skip) continue;
      const st = lstatSync(p);
      let what = 'dir';
      if (st.isSymbolicLink()) what = `link ${readlinkSync(p)}`;
      else if (st.isFile()) what = `file ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
      lines.push(`${relative(root, p)} ${what} mode=${st.mode.toString(8)} uid=${st.uid} gid=${st.gid} size=${st.size} nlink=${st.nlink} mtime=${st.mtimeMs} ctime=${st.ctimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return lines;
}

/** The error code an operation ended with (VfsError code or errno code), or 'ok'. */
export async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof VfsError) return err.code;
    const code = (err as NodeJS.ErrnoException | null)?.code;
    if (typeof code === 'string') return code;
    throw err;
  }
}

/** Asserts that `p` rejects with a VfsError of `code` (and, for NOT_FOUND, the one fixed message). */
export async function rejectsVfs(p: Promise<unknown>, code: string): Promise<VfsError> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof VfsError, `expected VfsError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  if (code === 'NOT_FOUND') assert.equal(caught.message, 'No such file');
  return caught;
}

/** Asserts that `p` rejects with a node fs error of errno `code`. */
export async function rejectsErrno(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(!(err instanceof VfsError), `expected errno ${code}, got VfsError ${(err as VfsError).code}`);
    assert.equal((err as NodeJS.ErrnoException).code, code);
    return true;
  });
}

/** SFTP open flags, all false but those named. */
export function flags(...names: Array<keyof OpenFlags>): OpenFlags {
  const f: OpenFlags = { read: false, write: false, append: false, creat: false, trunc: false, excl: false };
  for (const n of names) f[n] = true;
  return f;
}
