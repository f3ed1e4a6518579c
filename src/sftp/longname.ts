/**
 * The `ls -l` style longname of a NAME entry, byte for byte as OpenSSH's ls_file() (sftp-common.c)
 * prints it with si_units off:
 *   "%s %3u %-*s %-*s %8llu %s %s"  mode(11 chars, strmode), nlink, user, group, size, time, name
 * e.g. `-rw-r--r--    1 alice    alice        1234 Nov 21 11:58 name`.
 * Coffer users are virtual, so owner and group names are parameters.
 */
import type { FileAttrs } from './packets/attrs.js';

/** What the longname shows beyond the attributes. */
export interface LongnameOptions {
  owner: string;
  group: string;
  /** Link count (ATTRS has none); default 1. */
  nlink?: number;
  /** "Now" in Unix seconds, for the recent/old time format; default the clock. */
  now?: number;
  /** Whose calendar prints the time: 'local' (OpenSSH uses localtime) or 'utc'. Default local. */
  timeZone?: 'local' | 'utc';
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
// ls_file: files modified less than half a year ago show the time, older ones the year.
const HALF_YEAR = (365 * 24 * 60 * 60) / 2;

const S_IFMT = 0o170000;
const TYPE_CHARS: ReadonlyMap<number, string> = new Map([
  [0o040000, 'd'],
  [0o020000, 'c'],
  [0o060000, 'b'],
  [0o100000, '-'],
  [0o120000, 'l'],
  [0o140000, 's'],
  [0o010000, 'p'],
]);

/** The 10-character mode string of BSD strmode() ("drwxr-xr-x"), '?' for an unknown type. */
export function modeString(mode: number): string {
  const type = TYPE_CHARS.get(mode & S_IFMT) ?? '?';
  return (
    type +
    triad(mode >> 6, (mode & 0o4000) !== 0, 's') +
    triad(mode >> 3, (mode & 0o2000) !== 0, 's') +
    triad(mode, (mode & 0o1000) !== 0, 't')
  );
}

// One rwx group; `special` (setuid, setgid or sticky) shows as s/t over x, S/T without x.
function triad(bits: number, special: boolean, mark: string): string {
  const r = bits & 4 ? 'r' : '-';
  const w = bits & 2 ? 'w' : '-';
  const x = bits & 1;
  const e = special ? (x ? mark : mark.toUpperCase()) : x ? 'x' : '-';
  return r + w + e;
}

/** strftime "%b %e %H:%M" for recent times, "%b %e  %Y" otherwise (ls_file's rule). */
export function lsTime(mtime: number, now: number, timeZone: 'local' | 'utc' = 'local'): string {
  const d = new Date(mtime * 1000);
  const utc = timeZone === 'utc';
  const month = MONTHS[utc ? d.getUTCMonth() : d.getMonth()]!;
  const day = String(utc ? d.getUTCDate() : d.getDate()).padStart(2, ' ');
  if (now - mtime < HALF_YEAR) {
    const hh = String(utc ? d.getUTCHours() : d.getHours()).padStart(2, '0');
    const mm = String(utc ? d.getUTCMinutes() : d.getMinutes()).padStart(2, '0');
    return `${month} ${day} ${hh}:${mm}`;
  }
  return `${month} ${day}  ${utc ? d.getUTCFullYear() : d.getFullYear()}`;
}

/** The longname of `name` with `attrs` (missing fields print as 0, like OpenSSH's attrib_to_stat). */
export function formatLongname(name: string, attrs: FileAttrs, opts: LongnameOptions): string {
  const mode = modeString(attrs.permissions ?? 0);
  const nlink = String(opts.nlink ?? 1).padStart(3, ' ');
  const owner = opts.owner.padEnd(8, ' ');
  const group = opts.group.padEnd(8, ' ');
  const size = String(attrs.size ?? 0).padStart(8, ' ');
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const time = lsTime(attrs.mtime ?? 0, now, opts.timeZone);
  // strmode() leaves an 11th character, a space (the ACL marker), hence two spaces after the mode.
  return `${mode}  ${nlink} ${owner} ${group} ${size} ${time} ${name}`;
}
