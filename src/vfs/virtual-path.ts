/**
 * Virtual paths: what a client names, `/` being its home. Normalised once, at the edge, without
 * touching the disk (jail rule 1 of DESIGN.md): `..` stops at `/`, `.` and empty components
 * vanish, relative paths start at `/` (SFTP's start directory is the home).
 */
import { notFound } from './vfs-error.js';

/** Longest path accepted, in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;

// C0 controls, DEL, and U+FFFD (what invalid UTF-8 decodes to: such names would alias others).
const FORBIDDEN = /[\u0000-\u001f\u007f\ufffd]/;

/**
 * True when `p` may name a file: no control bytes, no NUL, no invalid UTF-8 (U+FFFD), and at most
 * MAX_PATH_BYTES long. A backslash is an ordinary character on Linux and stays one.
 */
export function isUsablePath(p: string): boolean {
  return !FORBIDDEN.test(p) && Buffer.byteLength(p) <= MAX_PATH_BYTES;
}

/**
 * In an absolute path, what makes it not canonical: an empty, '.' or '..' component, or a trailing
 * slash (a '/' followed by at most two dots and then a '/' or the end). "/" itself matches.
 */
export const NOT_CANONICAL = /\/\.{0,2}(?:\/|$)/;

/**
 * The canonical virtual path of `p` ("/" or "/a/b", never a trailing slash). Names that cannot
 * exist (see isUsablePath) answer NOT_FOUND, as a missing file would.
 */
export function normalizePath(p: string): string {
  if (!isUsablePath(p)) throw notFound();
  // Already canonical (what clients send nearly always): itself, without splitting and joining.
  if (p.charCodeAt(0) === 0x2f && !NOT_CANONICAL.test(p)) return p;
  return foldPath(p);
}

/**
 * The general algorithm behind normalizePath, for any text: components folded one by one ('' and
 * '.' vanish, '..' drops the one before and stops at '/'), joined under '/'. No checks.
 */
export function foldPath(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return '/' + out.join('/');
}

/**
 * Resolves `target` (a symlink's text) against the folder `dir` (a virtual path) without clamping
 * at the root: returns the virtual path, or null when the target climbs above `/`.
 */
export function resolveWithin(dir: string, target: string): string | null {
  const out = target.startsWith('/') ? [] : dir.split('/').filter(Boolean);
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return null;
      out.pop();
    } else out.push(part);
  }
  return '/' + out.join('/');
}

/** The parent folder and last name of a normalised path ("/" has parent "/" and name ""). */
export function splitPath(vpath: string): { parent: string; name: string } {
  const i = vpath.lastIndexOf('/');
  return { parent: i <= 0 ? '/' : vpath.slice(0, i), name: vpath.slice(i + 1) };
}
