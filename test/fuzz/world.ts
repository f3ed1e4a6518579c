/**
 * The fuzzer's disk: one temp folder per sequence. `box/home` is the jail, seeded with files,
 * folders, a FIFO and symlinks (inside, dangling, and pointing outside); canary files with random
 * tokens lie in `box/outside`, in the sibling `box/home2` (the prefix trick) and in the temp folder
 * itself (the home's grandparent). fingerprint() records everything outside the home so a
 * sequence can prove nothing there was written, created, removed, chmodded or touched.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { removeTempDir, tempDirSync } from '../support/temp-dirs.js';
import { basename, join, relative } from 'node:path';

/** What a sequence may vary about the seeded home. */
export interface WorldSetup {
  /** Size of /a.txt. */
  aSize: number;
  /** Size of /dir/b.bin. */
  bSize: number;
}

/** One sandbox (real paths, no symlink on the way). */
export interface World {
  tmp: string;
  box: string;
  home: string;
  outside: string;
  /** Random tokens inside the canary files: no reply may ever carry one. */
  canaryTokens: string[];
  /** Byte strings no reply may contain: the sandbox's host path and its unique folder name. */
  hostMarkers: Buffer[];
  /** Everything outside the home, as made. */
  baseline: string[];
  cleanup(): void;
}

let fifoStash: string | null | undefined;

/** A FIFO outside every sandbox, hard-linked into each home (mkfifo once per process). */
function stashedFifo(): string | null {
  if (fifoStash !== undefined) return fifoStash;
  try {
    const dir = realpathSync(tempDirSync('coffer-fuzz-fifo-')); // removed at exit
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    fifoStash = join(dir, 'fifo');
  } catch {
    fifoStash = null;
  }
  return fifoStash;
}

/** Deterministic bytes (no canary token can appear in them). */
function pattern(size: number, salt: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + salt) & 0x7f;
  return b;
}

/** Makes a fresh sandbox under os.tmpdir(). */
export function makeWorld(setup: WorldSetup): World {
  // Removed at exit too (temp-dirs.ts): the case fast-check abandons at scripts/fuzz.mjs's time
  // limit never reaches its cleanup.
  const made = tempDirSync('coffer-fuzz-');
  const tmp = realpathSync(made);
  const box = join(tmp, 'box');
  const home = join(box, 'home');
  const home2 = join(box, 'home2');
  const outside = join(box, 'outside');
  for (const d of [join(home, 'dir', 'sub'), home2, join(outside, 'dir')]) mkdirSync(d, { recursive: true });
  const canaryTokens = [0, 1, 2, 3].map(() => `CANARY-${randomBytes(12).toString('hex')}`);
  writeFileSync(join(outside, 'secret.txt'), canaryTokens[0]!);
  writeFileSync(join(outside, 'dir', 'inner.txt'), canaryTokens[1]!);
  writeFileSync(join(home2, 'secret.txt'), canaryTokens[2]!);
  writeFileSync(join(tmp, 'top.txt'), canaryTokens[3]!);
  seedHome(home, outside, setup);
  return {
    tmp,
    box,
    home,
    outside,
    canaryTokens,
    hostMarkers: [Buffer.from(tmp), Buffer.from(basename(tmp))],
    baseline: fingerprint(tmp, home),
    cleanup: () => removeTempDir(made),
  };
}

function seedHome(home: string, outside: string, setup: WorldSetup): void {
  writeFileSync(join(home, 'a.txt'), pattern(setup.aSize, 1));
  writeFileSync(join(home, 'empty.txt'), '');
  writeFileSync(join(home, 'dir', 'b.bin'), pattern(setup.bSize, 2));
  const links: Array<[string, string]> = [
    ['link-in', 'a.txt'],
    ['link-dir', 'dir'],
    ['out', '../outside'],
    ['out-file', '../outside/secret.txt'],
    ['dangling', '../outside/new.txt'],
    ['up', '..'],
    ['sib', '../home2'],
    ['abs', join(outside, 'secret.txt')],
    ['abs-dir', outside],
    ['loop', 'loop'],
    ['dir/back', '../a.txt'],
    ['dir/esc', '../../outside'],
  ];
  for (const [name, target] of links) symlinkSync(target, join(home, name));
  const fifo = stashedFifo();
  if (fifo) linkSync(fifo, join(home, 'fifo'));
}

/** One line per entry under `root` (except the subtree `skip`), sorted by path. */
export function fingerprint(root: string, skip: string): string[] {
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

/** Lines of `now` that differ from `before` (removed ones prefixed '-', new ones '+'). */
export function fingerprintDiff(before: string[], now: string[]): string[] {
  const a = new Set(before);
  const b = new Set(now);
  return [...before.filter((l) => !b.has(l)).map((l) => `- ${l}`), ...now.filter((l) => !a.has(l)).map((l) => `+ ${l}`)];
}

/** Host paths of this process's open descriptors that lie inside `dir` (leak detection). */
export function openFdsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target === dir || target.startsWith(dir + '/')) out.push(`${fd} -> ${target}`);
  }
  return out;
}
