/**
 * Builds the one typed Config from defaults < coffer.json < COFFER_* environment < flags (SPEC §3).
 * Anything unknown or malformed is refused with a ConfigError naming the setting and its source.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { projectRoot, statePaths, type StatePaths } from './paths.js';
import {
  coerce,
  DEFAULTS,
  isProblem,
  kebab,
  SETTING_NAMES,
  SETTING_SPECS,
  upperSnake,
  type SettingName,
  type Settings,
} from './settings.js';

/** Settings plus where the state lives and which config file (if any) was read. */
export interface Config extends Settings {
  paths: StatePaths;
  configFile: string | null;
}

/** A setting that is unknown or has a bad value; the message names it and where it came from. */
export class ConfigError extends Error {
  readonly code = 'COFFER_BAD_CONFIG';
}

/** What the caller found on the command line and in the process. */
export interface ConfigSources {
  /** Settings given as flags, by setting name; values as typed (strings) or booleans. */
  flags?: Partial<Record<SettingName, string | boolean>>;
  /** --root and --config, if given. */
  rootFlag?: string | undefined;
  configFlag?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Decides logFormat's default: pretty on a TTY, JSON otherwise. */
  stdoutIsTTY?: boolean;
}

/** COFFER_* variables that are not server settings but are read by the programs. */
const OTHER_ENV = new Set(['COFFER_ROOT', 'COFFER_CONFIG', 'COFFER_PASSWORD']);
const ENV_NAMES = new Map(SETTING_NAMES.map((n) => ['COFFER_' + upperSnake(n), n] as const));

/** Resolves the whole configuration; throws ConfigError on any unknown key or bad value. */
export function loadConfig(src: ConfigSources = {}): Config {
  const env = src.env ?? process.env;
  const root = resolve(src.rootFlag ?? nonEmpty(env.COFFER_ROOT) ?? projectRoot());
  const paths = statePaths(root);
  const { file, values: fileValues } = readConfigFile(src.configFlag ?? nonEmpty(env.COFFER_CONFIG), paths);
  const settings: Record<string, unknown> = { ...DEFAULTS, logFormat: src.stdoutIsTTY ? 'pretty' : 'json' };
  const given = new Map<SettingName, string>();
  apply(settings, given, fileValues, (n) => `${file}: setting '${n}'`);
  apply(settings, given, envValues(env), (n) => `environment variable COFFER_${upperSnake(n)}`);
  apply(settings, given, src.flags ?? {}, (n) => `flag --${kebab(n)}`);
  const resolved = settings as unknown as Settings;
  capBelow(resolved, given, 'maxStartups', 'maxConnections');
  capBelow(resolved, given, 'maxStartupsPerIp', 'maxStartups');
  return { ...resolved, paths, configFile: file };
}

/**
 * Keeps `name` at most `limit` (maxStartups <= maxConnections, maxStartupsPerIp <= maxStartups):
 * a value given that way is refused, naming where it came from; a default is lowered to fit, so
 * `--max-connections 10` alone still starts.
 */
function capBelow(settings: Settings, given: Map<SettingName, string>, name: 'maxStartups' | 'maxStartupsPerIp', limit: 'maxConnections' | 'maxStartups'): void {
  if (settings[name] <= settings[limit]) return;
  const where = given.get(name);
  if (where) throw new ConfigError(`${where} must be at most ${limit} (${settings[limit]}) (got ${settings[name]})`);
  settings[name] = settings[limit];
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function apply(target: Record<string, unknown>, given: Map<SettingName, string>, raw: Record<string, unknown>, where: (n: SettingName) => string) {
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    const v = coerce(name as SettingName, value);
    // A database URL may hold a password, hooks a secret: neither is repeated in a message.
    const kind = SETTING_SPECS[name as SettingName]?.kind;
    const got = kind === 'database' || kind === 'hooks' ? '' : ` (got ${JSON.stringify(value)})`;
    if (isProblem(v)) throw new ConfigError(`${where(name as SettingName)} ${v.problem}${got}`);
    target[name] = v;
    given.set(name as SettingName, where(name as SettingName));
  }
}

function envValues(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('COFFER_') || OTHER_ENV.has(key)) continue;
    const name = ENV_NAMES.get(key);
    if (!name) throw new ConfigError(`unknown environment variable ${key}${suggest(key, [...ENV_NAMES.keys()])}`);
    out[name] = value;
  }
  return out;
}

/** Reads the config file: the explicit one (must exist) or <root>/coffer.json if present. */
function readConfigFile(explicit: string | undefined, paths: StatePaths) {
  const file = explicit ? resolve(explicit) : paths.defaultConfigFile;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (!explicit && (err as NodeJS.ErrnoException).code === 'ENOENT') return { file: null, values: {} };
    throw new ConfigError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file} must hold one JSON object of settings`);
  }
  for (const key of Object.keys(parsed)) {
    if (!Object.hasOwn(SETTING_SPECS, key)) {
      throw new ConfigError(`${file}: unknown setting '${key}'${suggest(key, SETTING_NAMES)}`);
    }
  }
  return { file, values: parsed as Record<string, unknown> };
}

/** ` (did you mean X?)` when a known name is close to the unknown one. */
function suggest(unknown: string, known: readonly string[]): string {
  const u = unknown.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(u, k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best && bestD <= Math.max(2, Math.floor(u.length / 4)) ? ` (did you mean ${best}?)` : '';
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
