/**
 * The commands of coffer-users (SPEC §4). Each validates all of its input before it changes
 * anything, and makes its change in one store transaction, so a refusal leaves everything as it was.
 * What takes time (reading stdin or key files, hashing, walking a folder) goes through ctx.step,
 * so that a SIGINT/SIGTERM ends the command there, before its change or after it, never inside.
 */
import type { Config } from '../../config/load.js';
import { coerce, isProblem, parseCount } from '../../config/settings.js';
import { homeDir } from '../../config/paths.js';
import { hashPassword } from '../../users/password.js';
import type { PublicKey } from '../../users/public-keys.js';
import { validateUserName } from '../../users/user-name.js';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import type { UsageView } from '../../store/quota-store.js';
import { InputError } from '../../util/errors.js';
import { formatSize, parseSize, type Size } from '../../util/size.js';
import { createHome, deleteTree, existingHome, retireHome } from '../../vfs/home-folders.js';
import { countUsage } from '../../vfs/usage-scan.js';
import { StopRequested } from '../common/stop-signals.js';
import { canPrompt, passwordFromStdin, promptNewPassword, readKeys } from './input.js';
import { freeBytes, keysTable, userDetails, userJson, usersTable } from './output.js';

/** What every command gets. */
export interface CommandContext {
  config: Config;
  args: string[];
  flags: {
    quota?: string;
    files?: string;
    key?: string[];
    passwordStdin?: boolean;
    noPassword?: boolean;
    disabled?: boolean;
    purge?: boolean;
    json?: boolean;
  };
  /** Opens the store on first use (so input is checked before the database is touched). */
  store(): Promise<Store>;
  print(text: string): void;
  /**
   * Waits for work that changes nothing, or rejects with a StopRequested as soon as SIGINT/SIGTERM
   * comes (the work's result is then dropped); also rejects if the stop came meanwhile.
   */
  step<T>(work: Promise<T>): Promise<T>;
}

/** Parses a size argument, re-raising as InputError. */
function size(text: string): Size {
  try {
    return parseSize(text);
  } catch (err) {
    throw new InputError((err as Error).message);
  }
}

/** Parses an entry limit argument (a whole number or `unlimited`), re-raising as InputError. */
function count(text: string): number | null {
  const n = parseCount(text);
  if (typeof n === 'object' && n !== null) throw new InputError(`bad entry limit '${text}': ${n.problem}`);
  return n;
}

const formatCount = (n: number | null): string => (n === null ? 'unlimited' : String(n));

/**
 * The password a command should set: from stdin, from a prompt on a terminal, or none (null).
 * With no way to get one, throws `missing`, or returns null when `missing` is null.
 */
async function newPassword(ctx: CommandContext, user: string, missing: string | null): Promise<string | null> {
  if (ctx.flags.noPassword) return null;
  if (ctx.flags.passwordStdin) return passwordFromStdin();
  if (canPrompt()) return promptNewPassword(user);
  if (missing === null) return null;
  throw new InputError(missing);
}

export async function add(ctx: CommandContext): Promise<void> {
  const [name] = ctx.args as [string];
  validateUserName(name);
  const { flags, config } = ctx;
  if (flags.passwordStdin && flags.noPassword) throw new InputError('--password-stdin and --no-password exclude each other');
  if (flags.passwordStdin && flags.key?.includes('-')) throw new InputError('--password-stdin and --key - cannot both read standard input');
  const quotaBytes = flags.quota !== undefined ? size(flags.quota) : config.defaultQuota;
  const maxFiles = flags.files !== undefined ? count(flags.files) : config.defaultMaxFiles;
  const keys: PublicKey[] = [];
  for (const source of flags.key ?? []) keys.push(...(await ctx.step(readKeys(source))));
  const home = homeDir(config.paths, name);
  const homeState = existingHome(home);
  const store = await ctx.store();
  if (await store.find(name)) throw new InputError(`user '${name}' already exists`);
  const needed = 'a user needs a password or at least one key: give --password-stdin or --key FILE';
  const password = await ctx.step(newPassword(ctx, name, keys.length === 0 ? needed + ' (standard input is not a terminal)' : null));
  if (password === null && keys.length === 0) throw new InputError(needed);
  const found = homeState === 'folder' ? await ctx.step(countUsage(home)) : { bytes: 0, entries: 0 };
  const passwordHash = password === null ? null : await ctx.step(hashPassword(password));
  const added = { name, passwordHash, quotaBytes, maxFiles, usedBytes: found.bytes, usedFiles: found.entries, disabled: Boolean(flags.disabled), keys };
  // The row, the keys and the home folder: one transaction (a stop does not cut it short).
  await store.add(added, () => createHome(home));
  const reused = homeState === 'folder' ? ` (existing folder kept, ${formatSize(found.bytes)} in use, ${found.entries} entries)` : '';
  const limits = `quota ${formatSize(quotaBytes)}, ${formatCount(maxFiles)} entries`;
  ctx.print(`added user ${name}: ${limits}, ${password ? 'password' : 'no password'}, ${keys.length} key(s)${flags.disabled ? ', disabled' : ''}\n`);
  ctx.print(`home folder ${home}${reused}\n`);
}

export async function passwd(ctx: CommandContext): Promise<void> {
  const [name] = ctx.args as [string];
  if (ctx.flags.passwordStdin && ctx.flags.noPassword) throw new InputError('--password-stdin and --no-password exclude each other');
  const store = await ctx.store();
  await store.get(name);
  const password = await ctx.step(newPassword(ctx, name, 'standard input is not a terminal: give the password with --password-stdin'));
  const hash = password === null ? null : await ctx.step(hashPassword(password));
  await store.setPasswordHash(name, hash);
  ctx.print(password === null ? `removed the password of ${name}\n` : `changed the password of ${name}\n`);
}

export async function quota(ctx: CommandContext): Promise<void> {
  const [name, text] = ctx.args as [string, string];
  const bytes = size(text);
  const store = await ctx.store();
  await store.setQuota(name, bytes);
  const user = await store.get(name);
  ctx.print(`${name}: quota ${formatSize(bytes)}, used ${formatSize(user.usedBytes)}, free ${formatSize(freeBytes(user))}\n`);
}

export async function files(ctx: CommandContext): Promise<void> {
  const [name, text] = ctx.args as [string, string];
  const limit = count(text);
  const store = await ctx.store();
  await store.setMaxFiles(name, limit);
  const user = await store.get(name);
  ctx.print(`${name}: entry limit ${formatCount(limit)}, used ${user.usedFiles}\n`);
}

export async function keyAdd(ctx: CommandContext): Promise<void> {
  const [name, source] = ctx.args as [string, string];
  const store = await ctx.store();
  await store.get(name);
  const keys = await ctx.step(readKeys(source));
  await store.addKeys(name, keys);
  for (const k of keys) ctx.print(`added key ${k.fingerprint} (${k.algorithm}${k.comment ? ', ' + k.comment : ''}) to ${name}\n`);
}

export async function keyList(ctx: CommandContext): Promise<void> {
  const store = await ctx.store();
  const user = await store.get(ctx.args[0]!);
  ctx.print(ctx.flags.json ? JSON.stringify(userJson(user).keys, null, 2) + '\n' : keysTable(user));
}

export async function keyRemove(ctx: CommandContext): Promise<void> {
  const [name, selector] = ctx.args as [string, string];
  const store = await ctx.store();
  const key = await store.removeKey(name, selector);
  ctx.print(`removed key ${key.fingerprint} (${key.algorithm}${key.comment ? ', ' + key.comment : ''}) from ${name}\n`);
}

export async function list(ctx: CommandContext): Promise<void> {
  const store = await ctx.store();
  const users = await store.list();
  if (ctx.flags.json) ctx.print(JSON.stringify(users.map(userJson), null, 2) + '\n');
  else if (users.length === 0) ctx.print('no users yet; add one with: coffer-users add NAME\n');
  else ctx.print(usersTable(users));
}

export async function show(ctx: CommandContext): Promise<void> {
  const store = await ctx.store();
  const user = await store.get(ctx.args[0]!);
  ctx.print(ctx.flags.json ? JSON.stringify(userJson(user), null, 2) + '\n' : userDetails(user, homeDir(ctx.config.paths, user.name)));
}

export async function setDisabled(ctx: CommandContext, disabled: boolean): Promise<void> {
  const [name] = ctx.args as [string];
  const store = await ctx.store();
  await store.setDisabled(name, disabled);
  ctx.print(disabled ? `disabled ${name}; a running server ends their sessions within seconds\n` : `enabled ${name}\n`);
}

export async function remove(ctx: CommandContext): Promise<void> {
  const [name] = ctx.args as [string];
  const home = homeDir(ctx.config.paths, name);
  let retired: string | null = null;
  const store = await ctx.store();
  await store.remove(name, () => {
    if (ctx.flags.purge) retired = retireHome(home);
  });
  if (retired) {
    try {
      await ctx.step(deleteTree(retired));
    } catch (err) {
      if (err instanceof StopRequested) throw err.withDetail(`user ${name} was removed; what is left of the home folder is at ${retired} (delete it with rm -rf)`);
      throw err;
    }
  }
  ctx.print(`removed user ${name}\n`);
  if (!ctx.flags.purge) ctx.print(`home folder kept at ${home} (delete it with --purge)\n`);
  else ctx.print(retired ? `deleted home folder ${home}\n` : `no home folder to delete at ${home}\n`);
}

export async function copyTo(ctx: CommandContext): Promise<void> {
  const [url] = ctx.args as [string];
  const source = await ctx.store();
  const checked = parseDatabaseUrl(url);
  const target = await openStore({ database: checked, paths: ctx.config.paths });
  try {
    if (target.where === source.where && target.kind === source.kind) throw new InputError('copy-to: the target is the store in use');
    const n = await source.copyTo(target);
    ctx.print(`copied ${n} user(s) with their keys, limits and usage from ${source.where} to ${target.where}\n`);
    ctx.print(`serve from it with: database = the same URL (coffer.json "database", COFFER_DATABASE or --database)\n`);
  } finally {
    await target.close();
  }
}

/** The URL of copy-to: a postgres:// URL (InputError otherwise, without repeating it). */
function parseDatabaseUrl(url: string): string {
  const v = coerce('database', url);
  if (isProblem(v) || v === '') throw new InputError('copy-to needs a PostgreSQL URL such as postgres://user:password@host:5432/coffer');
  return v as string;
}

/** The user's figures once a server cleared the unsure mark (polled for up to 15 s), else null. */
async function recountedByServer(store: Store, name: string): Promise<UsageView | null> {
  const until = Date.now() + 15_000;
  while (Date.now() < until) {
    const view = await store.quota.view(name);
    if (!view) return null;
    if (!view.unsure) return view;
    await new Promise((r) => setTimeout(r, 200));
  }
  return null;
}

export async function rescan(ctx: CommandContext): Promise<void> {
  const store = await ctx.store();
  const users = ctx.args[0] ? [await store.get(ctx.args[0])] : await store.list();
  if (users.length === 0) ctx.print('no users\n');
  // One write per user, right after that user's count (a count held back until all are done would
  // grow stale); a stop between users leaves the ones done rescanned and says which.
  const done: string[] = [];
  try {
    for (const user of users) {
      // Applied only if no server process has the user's connections and nothing changed the
      // usage during the count; else the servers recount (the one serving the user, once it is
      // the only one), since only they know the writes in flight (store/quota-store.ts).
      const seq = await store.quota.usageSeq(user.name);
      const connected = await store.quota.otherConnections('', user.name);
      const counted = connected === 0 && seq !== undefined ? await ctx.step(countUsage(homeDir(ctx.config.paths, user.name))) : null;
      if (counted && (await store.quota.applyRecount(null, user.name, seq!, { bytes: counted.bytes, files: counted.entries }))) {
        ctx.print(
          `${user.name}: used ${formatSize(user.usedBytes)} -> ${formatSize(counted.bytes)} (${counted.bytes} bytes in ${counted.files} files), ` +
            `entries ${user.usedFiles} -> ${counted.entries}\n`,
        );
      } else {
        // The server serving the user recounts (once it is the only one): wait a while for it.
        await store.quota.markUnsure(user.name);
        const after = await ctx.step(recountedByServer(store, user.name));
        ctx.print(
          after
            ? `${user.name}: used ${formatSize(user.usedBytes)} -> ${formatSize(after.usedBytes)} (recounted by the server serving the user), entries ${user.usedFiles} -> ${after.usedFiles}\n`
            : `${user.name}: connected on several servers; recounted once one server serves the user (usage stays counted until then)\n`,
        );
      }
      done.push(user.name);
    }
  } catch (err) {
    if (err instanceof StopRequested && done.length > 0) {
      throw err.withDetail(`rescanned ${done.length} of ${users.length} users (${done.join(', ')}); run rescan again for the others`);
    }
    throw err;
  }
}
