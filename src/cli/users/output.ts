/**
 * How coffer-users prints users: the JSON shape of SPEC §4 for `--json`, and aligned text tables
 * for people.
 */
import type { User } from '../../users/user-store.js';
import { formatSize } from '../../util/size.js';

/** The `--json` object of SPEC §4 (list prints an array of these). */
export interface UserJson {
  name: string;
  quotaBytes: number | null;
  usedBytes: number;
  maxFiles: number | null;
  usedFiles: number;
  disabled: boolean;
  keys: Array<{ fingerprint: string; type: string; comment: string }>;
  hasPassword: boolean;
  createdAt: string;
  lastLoginAt: string | null;
}

/** A user in the JSON shape of SPEC §4. */
export function userJson(u: User): UserJson {
  return {
    name: u.name,
    quotaBytes: u.quotaBytes,
    usedBytes: u.usedBytes,
    maxFiles: u.maxFiles,
    usedFiles: u.usedFiles,
    disabled: u.disabled,
    keys: u.keys.map((k) => ({ fingerprint: k.fingerprint, type: k.algorithm, comment: k.comment })),
    hasPassword: u.passwordHash !== null,
    createdAt: u.createdAt,
    lastLoginAt: u.lastLoginAt,
  };
}

/** Free space left by the quota: null when unlimited, 0 when over quota. */
export function freeBytes(u: Pick<User, 'quotaBytes' | 'usedBytes'>): number | null {
  return u.quotaBytes === null ? null : Math.max(0, u.quotaBytes - u.usedBytes);
}

/** Rows of cells as left-aligned columns separated by two spaces. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** Entries used of the limit: `12 / 1000000`, or `12 / unlimited`. */
const entries = (u: Pick<User, 'usedFiles' | 'maxFiles'>): string => `${u.usedFiles} / ${u.maxFiles ?? 'unlimited'}`;

const when = (iso: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : 'never');

/** The `list` table: one line per user. */
export function usersTable(users: User[]): string {
  const rows = [['NAME', 'QUOTA', 'USED', 'FREE', 'ENTRIES', 'PASSWORD', 'KEYS', 'DISABLED', 'LAST LOGIN']];
  for (const u of users) {
    rows.push([
      u.name,
      formatSize(u.quotaBytes),
      formatSize(u.usedBytes),
      formatSize(freeBytes(u)),
      entries(u),
      u.passwordHash ? 'yes' : 'no',
      String(u.keys.length),
      u.disabled ? 'yes' : 'no',
      when(u.lastLoginAt),
    ]);
  }
  return table(rows);
}

/** The `key list` table. */
export function keysTable(u: User): string {
  if (u.keys.length === 0) return `${u.name} has no keys\n`;
  return table([
    ['#', 'FINGERPRINT', 'TYPE', 'BITS', 'COMMENT'],
    ...u.keys.map((k) => [String(k.index), k.fingerprint, k.algorithm, String(k.bits), k.comment]),
  ]);
}

/** The `show` text: one `field: value` line each, then the keys. */
export function userDetails(u: User, home: string): string {
  const lines = [
    ['name', u.name],
    ['quota', formatSize(u.quotaBytes)],
    ['used', formatSize(u.usedBytes)],
    ['free', formatSize(freeBytes(u))],
    ['entries', entries(u)],
    ['password', u.passwordHash ? 'yes' : 'no'],
    ['keys', String(u.keys.length)],
    ['disabled', u.disabled ? 'yes' : 'no'],
    ['home', home],
    ['created', when(u.createdAt)],
    ['last login', when(u.lastLoginAt)],
  ];
  const text = lines.map(([k, v]) => `${(k + ':').padEnd(12)}${v}`).join('\n') + '\n';
  return u.keys.length ? text + '\n' + keysTable(u) : text;
}
