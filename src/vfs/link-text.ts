/**
 * Symlink text inside a jail: what READLINK may show of a stored text, and what SYMLINK stores for
 * a client's target. A text never reaches the client when it could name a host path or anything
 * outside the home (Erlang CVE-2026-48855); a relative one that stays inside is shown as stored,
 * as OpenSSH's sftp-server does, so clients that copy a tree keep its links relative.
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Jail } from './jail.js';
import { resolveWithin } from './virtual-path.js';

/** Where a symlink with `text` in real folder `dir` points: its folder part realpath'ed, then its name. */
export async function linkTarget(dir: string, text: string): Promise<string> {
  const full = isAbsolute(text) ? text : `${dir}/${text}`;
  const cut = full.lastIndexOf('/');
  const name = full.slice(cut + 1);
  if (name === '' || name === '.' || name === '..') return realpath(full).catch(() => resolve(full));
  const folder = await realpath(full.slice(0, cut) || '/').catch(() => null);
  return folder === null ? resolve(full) : join(folder, name);
}

/** Folder steps a relative text may take before READLINK answers its target's virtual path instead. */
const MAX_STEPS = 64;

/**
 * What READLINK answers for a link storing `text` in real folder `dir`, or null (NOT_FOUND).
 * An absolute text is a host path: only the virtual path it reaches (through the real folders;
 * the text alone where a folder is missing), if that is inside. A relative text is answered as
 * stored when, read lexically from the folder's virtual path, its `..` never climbs above `/`,
 * and every folder it passes through for real is inside the home: a text that leaves through
 * another link and comes back would name host folders. (A text of more than MAX_STEPS folders
 * gets its target's virtual path, so no request walks the disk without bound.)
 */
export async function shownText(jail: Jail, dir: string, text: string): Promise<string | null> {
  const steps = folderSteps(text);
  if (isAbsolute(text) || steps.length > MAX_STEPS) return jail.toVirtual(await linkTarget(dir, text));
  const folder = jail.toVirtual(dir);
  if (folder === null || resolveWithin(folder, text) === null) return null;
  return (await walksInside(jail, dir, steps)) ? text : null;
}

/** The components of `text` that are folders on the way (all but a last plain name: READLINK is one hop). */
function folderSteps(text: string): string[] {
  const parts = text.split('/').filter((p) => p !== '' && p !== '.');
  const last = parts[parts.length - 1];
  return last === undefined || last === '..' ? parts : parts.slice(0, -1);
}

/**
 * True when each folder reached by `steps` from real folder `dir` is inside the home: realpath'ed
 * (it may be a link), or lexical where it is missing (the kernel would stop there; the names after
 * it are still checked, so a text cannot hide a detour behind a missing folder).
 */
async function walksInside(jail: Jail, dir: string, steps: string[]): Promise<boolean> {
  let at = dir;
  for (const step of steps) {
    const next = join(at, step); // `at` is real or missing, so `..` is its parent
    at = (await realpath(next).catch(() => null)) ?? next;
    if (!jail.contains(at)) return false;
  }
  return true;
}

/**
 * The text a new link in real folder `dir` stores for the client's `target`, which reaches
 * `vtarget` read from the folder the client named. Never a host path: the path from `dir` to
 * `vtarget`, unless the client's own text is relative and leads to the same place read either
 * way (from the real folder's virtual path, and through the real folders): then that text, so
 * READLINK gives back what was sent (`../docs/v2` stays that, not `v2`).
 */
export async function storedText(jail: Jail, dir: string, target: string, vtarget: string): Promise<string> {
  const computed = relative(dir, join(jail.root, vtarget)) || '.';
  if (target === '' || target === computed || isAbsolute(target)) return computed;
  const folder = jail.toVirtual(dir);
  if (folder === null || resolveWithin(folder, target) !== vtarget) return computed;
  const [sent, own] = await Promise.all([linkTarget(dir, target), linkTarget(dir, computed)]);
  return sent === own ? target : computed;
}
