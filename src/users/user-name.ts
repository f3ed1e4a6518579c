/**
 * User names build host paths (homes/NAME), so they are checked before anything else touches them
 * (SFTPGo CVE-2026-30915 came from a user name holding `../`).
 */
import { InputError } from '../util/errors.js';

/** SPEC §4: lowercase, starts with a letter or underscore, at most 32 characters. */
export const USER_NAME_RE = /^[a-z_][a-z0-9._-]{0,31}$/;

/** True when `name` may be a Coffer user name. */
export function isValidUserName(name: string): boolean {
  return USER_NAME_RE.test(name) && name !== '.' && name !== '..';
}

/** Throws an InputError saying why `name` cannot be a user name. */
export function validateUserName(name: string): void {
  if (isValidUserName(name)) return;
  const shown = JSON.stringify(name.length > 60 ? name.slice(0, 60) + '...' : name);
  let why = 'use lowercase letters, digits, ., _ and -, starting with a letter or _';
  if (name.length > 32) why = `it has ${name.length} characters; at most 32 are allowed`;
  else if (/[A-Z]/.test(name)) why = 'use lowercase letters only';
  throw new InputError(`invalid user name ${shown}: ${why}`);
}
