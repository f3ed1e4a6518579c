/**
 * The server settings of SPEC §3: one table that gives each setting its kind, default and bounds.
 * Loading (load.ts), flag parsing (cli/) and the README's table all derive from it.
 */
import { availableParallelism } from 'node:os';
import { parseHooks, type HookSpec } from '../hooks/hook-config.js';
import { isCidrProblem, parseCidr } from '../util/cidr.js';
import { parseListenAddress } from '../util/listen-address.js';
import { LOG_LEVELS, type LogFormat, type LogLevel } from '../util/log-levels.js';
import { parseSize, SizeError, type Size } from '../util/size.js';

/** Every server setting, fully resolved. */
export interface Settings {
  /** The store: '' = the SQLite file db/coffer.db, or a postgres:// URL (SPEC §7). */
  database: string;
  host: string;
  port: number;
  /** Processes serving the port (SPEC §7 Workers): 1 = no cluster; `auto` is resolved to the CPU count. */
  workers: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  maxStartups: number;
  maxStartupsPerIp: number;
  passwordQueue: number;
  passwordQueuePerIp: number;
  maxSessionsPerUser: number;
  maxAuthTries: number;
  loginGraceSeconds: number;
  idleTimeoutSeconds: number;
  banThreshold: number;
  banWindowSeconds: number;
  banSeconds: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  defaultQuota: Size;
  /** Entry limit (files, folders, links) of users added without --files; null = unlimited. */
  defaultMaxFiles: number | null;
  symlinks: boolean;
  legacyScp: boolean;
  maxHandlesPerSession: number;
  /** Where file metadata calls run: the event loop on local filesystems (auto), or always one way. */
  metadataIo: 'auto' | 'sync' | 'async';
  shutdownGraceSeconds: number;
  /** Trusted load balancers (addresses or CIDR blocks) whose connections start with a PROXY header (SPEC §7). */
  proxyProtocol: string[];
  /** HOST:PORT of the /metrics and /healthz listener; '' = off (SPEC §8). */
  metricsListen: string;
  /** Event hooks (SPEC §8): programs run and URLs posted to. */
  hooks: HookSpec[];
  /** A run hook still running after this long is killed (SIGKILL); a post hook's request is abandoned. */
  hookTimeoutSeconds: number;
}

export type SettingName = keyof Settings;

type Spec =
  | { kind: 'int'; min: number; max: number; help: string }
  | { kind: 'bool'; help: string }
  | { kind: 'size'; help: string }
  | { kind: 'count'; max: number; help: string }
  | { kind: 'database'; help: string }
  | { kind: 'workers'; max: number; help: string }
  | { kind: 'host'; help: string }
  | { kind: 'enum'; values: readonly string[]; help: string }
  | { kind: 'list'; entry: (text: string) => string | null; help: string }
  | { kind: 'listen'; help: string }
  | { kind: 'hooks'; help: string };

const int = (min: number, max: number, help: string): Spec => ({ kind: 'int', min, max, help });
const DAY = 86_400;
/** The largest entry limit accepted (a count, or `unlimited`). */
export const MAX_FILES = 1_000_000_000_000;
/** The most workers accepted (a typo such as 1000 should not fork a thousand processes). */
export const MAX_WORKERS = 256;

/** Kind, bounds and a one-line description of each setting, in the order the README lists them. */
export const SETTING_SPECS: Record<SettingName, Spec> = {
  database: { kind: 'database', help: "empty: the SQLite file db/coffer.db; or a postgres:// URL (coffer-users reads it too)" },
  host: { kind: 'host', help: 'address to listen on' },
  port: int(0, 65_535, 'TCP port (0 picks a free one)'),
  workers: { kind: 'workers', max: MAX_WORKERS, help: "processes sharing the port (node:cluster); 'auto' = one per CPU" },
  maxConnections: int(1, 100_000, 'open connections in all'),
  maxConnectionsPerIp: int(1, 100_000, 'open connections from one address (an IPv6 /64 is one address)'),
  maxStartups: int(1, 100_000, 'connections not logged in yet, in all (at most maxConnections)'),
  maxStartupsPerIp: int(1, 100_000, 'connections not logged in yet from one address (at most maxStartups)'),
  passwordQueue: int(1, 100_000, 'password checks that may wait, in all (beyond: the attempt fails at once)'),
  passwordQueuePerIp: int(1, 100_000, 'password checks that may wait from one address'),
  maxSessionsPerUser: int(1, 10_000, "a user's authenticated connections"),
  maxAuthTries: int(1, 100, 'failed authentication attempts per connection'),
  loginGraceSeconds: int(1, 3600, 'time allowed from connect to login'),
  idleTimeoutSeconds: int(0, 30 * DAY, 'idle connections are closed after this (0 = never)'),
  banThreshold: int(0, 100_000, 'failures from one address that start a ban (0 = never ban)'),
  banWindowSeconds: int(1, 30 * DAY, 'window in which failures are counted'),
  banSeconds: int(1, 30 * DAY, 'how long a ban lasts'),
  logLevel: { kind: 'enum', values: LOG_LEVELS, help: 'least severe level logged' },
  logFormat: { kind: 'enum', values: ['json', 'pretty'], help: 'json lines, or pretty for people' },
  defaultQuota: { kind: 'size', help: 'quota of users added without --quota' },
  defaultMaxFiles: { kind: 'count', max: MAX_FILES, help: 'entry limit (files, folders, links) of users added without --files' },
  symlinks: { kind: 'bool', help: 'let users create symlinks (inside their home only)' },
  legacyScp: { kind: 'bool', help: 'serve legacy scp (scp -O, pscp) over exec' },
  maxHandlesPerSession: int(1, 65_536, 'open files and folders per SFTP session'),
  metadataIo: {
    kind: 'enum',
    values: ['auto', 'sync', 'async'],
    help: 'where metadata calls (open, stat, mkdir ...) run: auto = on the event loop when the home is on a local filesystem (ext4, XFS, Btrfs, tmpfs, overlay, ZFS ...), on the thread pool otherwise (NFS, CIFS, FUSE); sync or async force it',
  },
  shutdownGraceSeconds: int(0, 3600, 'time open transfers get to finish on SIGTERM'),
  proxyProtocol: {
    kind: 'list',
    entry: (text) => {
      const block = parseCidr(text);
      return isCidrProblem(block) ? block.problem : null;
    },
    help: 'trusted load balancers (addresses, CIDR blocks) that send a PROXY header',
  },
  metricsListen: { kind: 'listen', help: 'HOST:PORT serving GET /metrics and /healthz (empty: off)' },
  hooks: { kind: 'hooks', help: 'event hooks: a JSON list of {"on": [...], "run": [...]} and {"on": [...], "post": URL, "secret": S}' },
  hookTimeoutSeconds: int(1, 3600, 'a hook still running after this long is killed'),
};

/** The defaults of SPEC §3; logFormat's default depends on stdout and is filled in by load.ts. */
export const DEFAULTS: Omit<Settings, 'logFormat'> = {
  database: '',
  host: '0.0.0.0',
  port: 2222,
  workers: 1,
  maxConnections: 256,
  maxConnectionsPerIp: 20,
  maxStartups: 64,
  maxStartupsPerIp: 8,
  passwordQueue: 64,
  passwordQueuePerIp: 2,
  maxSessionsPerUser: 10,
  maxAuthTries: 6,
  loginGraceSeconds: 60,
  idleTimeoutSeconds: 900,
  banThreshold: 10,
  banWindowSeconds: 600,
  banSeconds: 900,
  logLevel: 'info',
  defaultQuota: 1024 ** 3,
  defaultMaxFiles: 1_000_000,
  symlinks: false,
  legacyScp: true,
  maxHandlesPerSession: 256,
  metadataIo: 'auto',
  shutdownGraceSeconds: 30,
  proxyProtocol: [],
  metricsListen: '',
  hooks: [],
  hookTimeoutSeconds: 30,
};

export const SETTING_NAMES = Object.keys(SETTING_SPECS) as SettingName[];

/** `maxConnectionsPerIp` -> `MAX_CONNECTIONS_PER_IP` (env names are COFFER_ + this). */
export function upperSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** `maxConnectionsPerIp` -> `max-connections-per-ip` (the flag name). */
export function kebab(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/**
 * Converts one raw value (a JSON value from coffer.json, or a string from env or a flag) to the
 * setting's type. Returns the value, or a string saying what is wrong with it.
 */
export function coerce(name: SettingName, raw: unknown): unknown | { problem: string } {
  const spec = SETTING_SPECS[name];
  const fromText = typeof raw === 'string';
  switch (spec.kind) {
    case 'int': {
      const n = fromText && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n)) return { problem: 'must be a whole number' };
      if (n < spec.min || n > spec.max) return { problem: `must be between ${spec.min} and ${spec.max}` };
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      const t = fromText ? raw.trim().toLowerCase() : '';
      if (TRUE.has(t)) return true;
      if (FALSE.has(t)) return false;
      return { problem: 'must be true or false' };
    }
    case 'size': {
      if (raw === null) return null;
      if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? raw : { problem: 'must be a size' };
      if (!fromText) return { problem: "must be a size such as 10M or 'unlimited'" };
      try {
        return parseSize(raw);
      } catch (err) {
        return { problem: err instanceof SizeError ? err.message : String(err) };
      }
    }
    case 'count':
      return parseCount(raw, spec.max);
    case 'database':
      return parseDatabase(raw);
    case 'workers':
      return parseWorkers(raw, spec.max);
    case 'host':
      return fromText && /^[A-Za-z0-9.:_%-]{1,255}$/.test(raw) ? raw : { problem: 'must be a host name or address' };
    case 'enum':
      return fromText && spec.values.includes(raw) ? raw : { problem: `must be one of ${spec.values.join(', ')}` };
    case 'list':
      return parseList(raw, spec.entry);
    case 'listen': {
      if (raw === null || raw === '') return '';
      if (!fromText) return { problem: 'must be HOST:PORT, such as 127.0.0.1:9222' };
      const parsed = parseListenAddress(raw);
      return 'problem' in parsed ? parsed : raw.trim();
    }
    case 'hooks':
      return parseHooks(raw);
  }
}

/**
 * A list: a JSON array of strings (coffer.json), or comma-separated text (env, flags; empty text
 * is the empty list). Each entry is trimmed and checked; the first bad one is named.
 */
function parseList(raw: unknown, check: (text: string) => string | null): string[] | { problem: string } {
  const items = typeof raw === 'string' ? raw.split(',') : raw;
  if (!Array.isArray(items) || !items.every((e) => typeof e === 'string')) return { problem: 'must be a list of strings' };
  const entries = items.map((e: string) => e.trim()).filter((e) => e !== '' || typeof raw !== 'string');
  for (const e of entries) {
    const problem = e === '' ? 'is empty' : check(e);
    if (problem) return { problem: `entry '${e}' ${problem}` };
  }
  return entries;
}

/** A whole number of at most `max`, or `unlimited` (null): from JSON or from text. */
export function parseCount(raw: unknown, max: number = MAX_FILES): number | null | { problem: string } {
  if (raw === null || (typeof raw === 'string' && /^\s*unlimited\s*$/i.test(raw))) return null;
  const n = typeof raw === 'string' && /^\s*\d{1,16}\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return { problem: "must be a whole number or 'unlimited'" };
  if (n > max) return { problem: `must be at most ${max} or 'unlimited'` };
  return n;
}

/** The `workers` setting: a whole number from 1 to `max`, or `auto` (this machine's CPU count, at most `max`). */
export function parseWorkers(raw: unknown, max: number = MAX_WORKERS): number | { problem: string } {
  if (typeof raw === 'string' && /^\s*auto\s*$/i.test(raw)) return Math.min(max, Math.max(1, availableParallelism()));
  const n = typeof raw === 'string' && /^\s*\d{1,6}\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) return { problem: `must be a whole number from 1 to ${max}, or 'auto'` };
  return n;
}

/** The `database` setting: empty, or a postgres:// / postgresql:// URL with a host. */
function parseDatabase(raw: unknown): string | { problem: string } {
  if (raw === null || raw === '') return '';
  const problem = { problem: "must be empty (the SQLite file db/coffer.db) or a URL such as postgres://user:password@host:5432/coffer" };
  if (typeof raw !== 'string') return problem;
  try {
    const url = new URL(raw.trim());
    return ['postgres:', 'postgresql:'].includes(url.protocol) && url.hostname !== '' ? raw.trim() : problem;
  } catch {
    return problem;
  }
}

/** True when coerce() refused the value. */
export function isProblem(v: unknown): v is { problem: string } {
  return typeof v === 'object' && v !== null && 'problem' in v;
}
