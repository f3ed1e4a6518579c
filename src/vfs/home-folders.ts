/**
 * Creating and deleting users' home folders (homes/NAME, mode 0700). Used by coffer-users; the
 * user name has already been validated, so NAME is one safe path component.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, renameSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InputError } from '../util/errors.js';

/** What is at a home's path before `add`: nothing, or a folder left by an earlier user. */
export function existingHome(home: string): 'none' | 'folder' {
  let st;
  try {
    st = lstatSync(home);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
    throw err;
  }
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new InputError(`${home} exists and is not a folder; move it away first`);
  }
  return 'folder';
}

/** Creates (or, if it is already a folder, keeps) a home folder with mode 0700. Synchronous. */
export function createHome(home: string): void {
  mkdirSync(dirname(home), { recursive: true, mode: 0o700 });
  if (existingHome(home) === 'none') mkdirSync(home, { mode: 0o700 });
  chmodSync(home, 0o700);
}

/**
 * Moves a home folder out of the way under a name no user can have (`.NAME.removed-RANDOM`, user
 * names cannot start with a dot), atomically. Returns the new path, or null if there was none.
 */
export function retireHome(home: string): string | null {
  if (existingHome(home) === 'none') return null;
  const retired = join(dirname(home), `.${home.split('/').pop()}.removed-${randomBytes(4).toString('hex')}`);
  renameSync(home, retired);
  return retired;
}

/** Deletes a folder tree; symlinks inside are removed, never followed. */
export async function deleteTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}
