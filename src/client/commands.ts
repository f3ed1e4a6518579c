/**
 * The commands of the coffer shell (SPEC §6), shared by the interactive shell, batch files and
 * the one-shot `coffer get|put|sum|ls|df`. Each takes the session and its words and throws a
 * ClientError (one line) on failure; paths resolve against the remote and local working folders.
 */
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, posix, resolve } from 'node:path';
import type { Connection } from './connection.js';
import { ClientError, CommandUsageError } from './errors.js';
import { getFile, putFile, type TransferOptions } from './files.js';
import { columns, dfLines, type VfsNumbers } from './format.js';
import type { Progress } from './progress.js';
import { remoteError } from './remote-ops.js';
import { getTree, isLocalDir, isRemoteDir, localTreeMarker, putTree, remoteMkdir, remoteTreeMarker } from './tree.js';
import { SUM_ALGORITHMS, type SumAlgorithm } from './verify.js';

/** Where the session's text goes. */
export interface Output {
  /** A line of the command's output (stdout). */
  print(line: string): void;
  /** A notice (stdout too: Resuming..., Skipping...). */
  say(line: string): void;
  /** Terminal width for listings (80 when not a terminal). */
  columns: number;
  /** True when stdout is a terminal (ls prints columns). */
  tty: boolean;
}

/** One connection's shell state. */
export class Session {
  /** Remote working folder (absolute). */
  cwd: string;
  /** Local working folder (absolute). */
  lcwd: string = process.cwd();
  /** Aborts the running command (Ctrl-C); set by the shell for each command. */
  signal: AbortSignal | undefined;
  constructor(
    readonly conn: Connection,
    readonly out: Output,
    readonly progress: Progress,
    readonly verify: boolean,
  ) {
    this.cwd = conn.home;
  }

  /** A remote path resolved against the remote working folder. */
  remote(path: string): string {
    return posix.resolve(this.cwd, path);
  }

  /** A local path resolved against the local working folder (`~` is the local home). */
  local(path: string): string {
    if (path === '~' || path.startsWith('~/')) return join(homedir(), path.slice(1));
    return resolve(this.lcwd, path);
  }

  /** Options for a file transfer. */
  transfer(): TransferOptions {
    return { verify: this.verify, progress: this.progress, say: (l) => this.out.say(l), signal: this.signal };
  }
}

/** A shell command. */
export interface Command {
  usage: string;
  help: string;
  /** Which words complete to remote paths and which to local ones (by position; last repeats). */
  complete: Array<'remote' | 'local'>;
  run(s: Session, args: string[]): Promise<void>;
}

/** Splits leading options: `flags` are single letters, `valued` take the next word or `=value`. */
export function takeOptions(args: string[], flags: string, valued: string[] = []): { opts: Map<string, string | true>; rest: string[] } {
  const opts = new Map<string, string | true>();
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    const [name, value] = a.startsWith('--') ? [a.slice(2).split('=')[0]!, a.includes('=') ? a.slice(a.indexOf('=') + 1) : undefined] : [a.slice(1), undefined];
    if (valued.includes(name)) {
      const v = value ?? args[++i];
      if (v === undefined) throw new CommandUsageError(`option --${name} needs a value`);
      opts.set(name, v);
    } else if (!a.startsWith('--') && [...name].every((c) => flags.includes(c))) [...name].forEach((c) => opts.set(c, true));
    else throw new CommandUsageError(`unknown option '${a}'`);
  }
  return { opts, rest: args.slice(i) };
}

function arity(rest: string[], min: number, max: number, usage: string): void {
  if (rest.length < min || rest.length > max) throw new CommandUsageError(`usage: ${usage}`);
}

async function remoteCall<T>(what: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw remoteError(what, err);
  }
}

async function ls(s: Session, args: string[]): Promise<void> {
  const { opts, rest } = takeOptions(args, 'la');
  arity(rest, 0, 1, COMMANDS.ls!.usage);
  const path = s.remote(rest[0] ?? '.');
  const st = await remoteCall(path, s.conn.ops.stat(path));
  if (!st.isDirectory()) {
    const e = (await remoteCall(path, s.conn.client.list(posix.dirname(path)))).find((x) => x.name === posix.basename(path));
    s.out.print(opts.has('l') && e ? e.longname : (rest[0] ?? path));
    return;
  }
  const entries = (await remoteCall(path, s.conn.client.list(path)))
    .filter((e) => opts.has('a') || !e.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (opts.has('l')) entries.forEach((e) => s.out.print(e.longname));
  else if (s.out.tty) columns(entries.map((e) => e.name), s.out.columns).forEach((l) => s.out.print(l));
  else entries.forEach((e) => s.out.print(e.name));
}

async function cd(s: Session, args: string[]): Promise<void> {
  arity(args, 0, 1, COMMANDS.cd!.usage);
  const path = args[0] === undefined ? s.conn.home : s.remote(args[0]);
  const real = await remoteCall(path, s.conn.ops.realpath(path));
  const st = await remoteCall(path, s.conn.ops.stat(real));
  if (!st.isDirectory()) throw new ClientError('COFFER_NOT_DIR', `${path}: Not a directory`);
  s.cwd = real;
}

async function lcd(s: Session, args: string[]): Promise<void> {
  arity(args, 0, 1, COMMANDS.lcd!.usage);
  const path = s.local(args[0] ?? homedir());
  const st = await stat(path).catch(() => null);
  if (!st) throw new ClientError('COFFER_LOCAL', `${path}: No such file or directory`);
  if (!st.isDirectory()) throw new ClientError('COFFER_LOCAL', `${path}: Not a directory`);
  s.lcwd = path;
}

async function lls(s: Session, args: string[]): Promise<void> {
  const { opts, rest } = takeOptions(args, 'a');
  arity(rest, 0, 1, COMMANDS.lls!.usage);
  const path = s.local(rest[0] ?? '.');
  const names = await readdir(path).catch((err: NodeJS.ErrnoException) => {
    throw new ClientError('COFFER_LOCAL', `${path}: ${err.code === 'ENOENT' ? 'No such file or directory' : err.code}`);
  });
  const shown = names.filter((n) => opts.has('a') || !n.startsWith('.')).sort();
  if (s.out.tty) columns(shown, s.out.columns).forEach((l) => s.out.print(l));
  else shown.forEach((n) => s.out.print(n));
}

async function get(s: Session, args: string[]): Promise<void> {
  const { opts, rest } = takeOptions(args, 'rR');
  arity(rest, 1, 2, COMMANDS.get!.usage);
  const remote = s.remote(rest[0]!);
  const st = await remoteCall(remote, s.conn.ops.stat(remote));
  const recursive = opts.has('r') || opts.has('R');
  if (st.isDirectory() && !recursive) throw new ClientError('COFFER_IS_DIR', `${remote}: is a directory (use get -r)`);
  const name = posix.basename(remote) || 'root';
  let local = rest[1] === undefined ? s.local(name) : s.local(rest[1]);
  // An existing folder, or a name ending in '/', receives the file under its own name; unless it
  // is this same folder's unfinished download (tree.ts TREE_MARKER), which the command continues.
  if (rest[1] !== undefined && (rest[1].endsWith('/') || (await isLocalDir(local)))) {
    const continues = st.isDirectory() && !rest[1].endsWith('/') && (await localTreeMarker(local)) === name;
    if (!continues) local = join(local, name);
  }
  if (st.isDirectory()) {
    const r = await getTree(s.conn, remote, local, s.transfer(), s.progress);
    s.out.say(`${remote}: ${r.files} files, ${r.bytes} bytes`);
  } else await getFile(s.conn, remote, local, s.transfer());
}

async function put(s: Session, args: string[]): Promise<void> {
  const { opts, rest } = takeOptions(args, 'rR');
  arity(rest, 1, 2, COMMANDS.put!.usage);
  const local = s.local(rest[0]!);
  const recursive = opts.has('r') || opts.has('R');
  const dir = await isLocalDir(local);
  if (dir && !recursive) throw new ClientError('COFFER_IS_DIR', `${local}: is a directory (use put -r)`);
  let remote = s.remote(rest[1] ?? basename(local));
  if (rest[1] !== undefined && (rest[1].endsWith('/') || (await isRemoteDir(s.conn, remote)))) {
    const continues = dir && !rest[1].endsWith('/') && (await remoteTreeMarker(s.conn, remote)) === basename(local);
    if (!continues) remote = posix.join(remote, basename(local));
  }
  if (dir) {
    const r = await putTree(s.conn, local, remote, s.transfer(), s.progress);
    s.out.say(`${local}: ${r.files} files, ${r.bytes} bytes`);
  } else await putFile(s.conn, local, remote, s.transfer());
}

async function sum(s: Session, args: string[]): Promise<void> {
  const { opts, rest } = takeOptions(args, '', ['algo']);
  if (rest.length === 0) throw new CommandUsageError(`usage: ${COMMANDS.sum!.usage}`);
  const algo = String(opts.get('algo') ?? 'sha256').toLowerCase();
  if (!(SUM_ALGORITHMS as readonly string[]).includes(algo)) throw new CommandUsageError(`unknown algorithm '${algo}' (use ${SUM_ALGORITHMS.join(', ')})`);
  for (const p of rest) {
    const path = s.remote(p);
    const digest = await s.conn.hasher.hash(path, algo as SumAlgorithm);
    s.out.print(`${digest.toString('hex')}  ${p}`);
  }
}

async function df(s: Session, args: string[]): Promise<void> {
  arity(args, 0, 1, COMMANDS.df!.usage);
  const path = s.remote(args[0] ?? '.');
  if (!('statvfs@openssh.com' in s.conn.extensions)) throw new ClientError('COFFER_UNSUPPORTED', 'the server does not support statvfs@openssh.com');
  const st = await remoteCall(path, new Promise<VfsNumbers>((res, rej) => s.conn.sftp.ext_openssh_statvfs(path, (err, info) => (err ? rej(err) : res(info as VfsNumbers)))));
  dfLines(st).forEach((l) => s.out.print(l));
}

function simple(usage: string, help: string, run: (s: Session, path: string) => Promise<unknown>): Command {
  return {
    usage,
    help,
    complete: ['remote'],
    async run(s, args) {
      if (args.length === 0) throw new CommandUsageError(`usage: ${usage}`);
      for (const a of args) await remoteCall(s.remote(a), Promise.resolve(run(s, s.remote(a))));
    },
  };
}

/** Every shell command by name. */
export const COMMANDS: Record<string, Command> = {
  ls: { usage: 'ls [-la] [path]', help: 'list a remote folder (-l long, -a dot files too)', complete: ['remote'], run: ls },
  cd: { usage: 'cd [path]', help: 'change the remote folder', complete: ['remote'], run: cd },
  pwd: { usage: 'pwd', help: 'print the remote folder', complete: [], run: async (s) => s.out.print(`Remote working directory: ${s.cwd}`) },
  lcd: { usage: 'lcd [path]', help: 'change the local folder', complete: ['local'], run: lcd },
  lpwd: { usage: 'lpwd', help: 'print the local folder', complete: [], run: async (s) => s.out.print(`Local working directory: ${s.lcwd}`) },
  lls: { usage: 'lls [-a] [path]', help: 'list a local folder', complete: ['local'], run: lls },
  mkdir: simple('mkdir path...', 'make remote folders', (s, p) => remoteMkdirStrict(s.conn, p)),
  rmdir: simple('rmdir path...', 'remove empty remote folders', (s, p) => s.conn.client.rmdir(p)),
  rm: simple('rm path...', 'remove remote files', (s, p) => s.conn.ops.unlink(p)),
  mv: {
    usage: 'mv old new',
    help: 'rename a remote file or folder (never replaces)',
    complete: ['remote'],
    async run(s, args) {
      arity(args, 2, 2, 'mv old new');
      const [from, to] = [s.remote(args[0]!), s.remote(args[1]!)];
      const target = (await isRemoteDir(s.conn, to)) ? posix.join(to, posix.basename(from)) : to;
      await remoteCall(`${from} -> ${target}`, s.conn.client.rename(from, target));
    },
  },
  get: { usage: 'get [-r] remote [local]', help: 'download (resumes, verifies sha256)', complete: ['remote', 'local'], run: get },
  put: { usage: 'put [-r] local [remote]', help: 'upload (resumes, verifies sha256)', complete: ['local', 'remote'], run: put },
  sum: { usage: 'sum [--algo md5|sha1|sha256|sha512] path...', help: "print the server's checksum", complete: ['remote'], run: sum },
  df: { usage: 'df [path]', help: 'show the quota: size, used, available', complete: ['remote'], run: df },
  help: { usage: 'help', help: 'this list', complete: [], run: async (s) => helpLines().forEach((l) => s.out.print(l)) },
};

/** Aliases (`?` as in sftp, `rename` for mv, `dir` for ls). */
export const ALIASES: Record<string, string> = { '?': 'help', rename: 'mv', dir: 'ls', chdir: 'cd', lchdir: 'lcd', delete: 'rm' };

/** The help text, one line per command. */
export function helpLines(): string[] {
  const rows = Object.values(COMMANDS).map((c) => [c.usage, c.help] as const);
  rows.push(['quit, exit', 'leave']);
  const w = Math.max(...rows.map(([u]) => u.length)) + 2;
  return rows.map(([u, h]) => `${u.padEnd(w)}${h}`);
}

/** Looks a command up by name or alias. */
export function findCommand(name: string): Command | undefined {
  return COMMANDS[ALIASES[name] ?? name];
}

async function remoteMkdirStrict(conn: Connection, path: string): Promise<void> {
  if (await isRemoteDir(conn, path)) throw new ClientError('COFFER_EXISTS', `${path}: File exists`);
  await remoteMkdir(conn, path);
}
