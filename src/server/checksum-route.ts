/**
 * Exec `md5sum`, `sha1sum`, `sha256sum`, `sha384sum` and `sha512sum` with one or more paths
 * (SPEC §5), answered in-process through the user's jailed Vfs and printed as coreutils does:
 * `<hex>  <path>` lines, errors as `sha256sum: PATH: No such file or directory` on stderr and exit
 * status 1. With no path (or `-`) they hash standard input, which is how rclone detects them.
 */
import type { ServerChannel } from 'ssh2';
import { ShellWordsError, splitShellWords } from '../util/shell-words.js';
import { checksumFile, checksumStream, type ChecksumAlgorithm } from '../vfs/checksum.js';
import { openHome, type SessionHome } from './home-vfs.js';
import type { HashOptions, Vfs } from '../vfs/vfs.js';
import { toVfsError } from '../vfs/vfs-error.js';
import type { ExecRoute, SessionContext } from './session-router.js';

const COMMANDS: Record<string, ChecksumAlgorithm> = {
  md5sum: 'md5',
  sha1sum: 'sha1',
  sha256sum: 'sha256',
  sha384sum: 'sha384',
  sha512sum: 'sha512',
};

/** coreutils' --binary and --text only change the mark before the name (`*` or a space). */
const BINARY_OPTIONS = new Set(['-b', '--binary']);
const TEXT_OPTIONS = new Set(['-t', '--text']);
const READ_ONLY = { read: true, write: false, append: false, creat: false, trunc: false, excl: false };

/** The hash commands' exec route. */
export const checksumRoute: ExecRoute = {
  name: 'checksum',
  matches: (command) => Object.hasOwn(COMMANDS, command.trimStart().split(/[\s'"\\]/)[0] ?? ''),
  run: runChecksum,
};

/** What the arguments ask for: the names to hash (none means standard input) and the mode. */
export interface SumArguments {
  files: string[];
  /** --binary: coreutils marks the name with `*` instead of a space. */
  binary: boolean;
}

/** Parses the arguments after the command name; throws on an unsupported option. */
export function fileArguments(command: string, args: string[]): SumArguments {
  const files: string[] = [];
  let binary = false;
  let options = true;
  for (const arg of args) {
    if (options && arg === '--') options = false;
    else if (options && arg.startsWith('-') && arg !== '-') {
      if (BINARY_OPTIONS.has(arg)) binary = true;
      else if (TEXT_OPTIONS.has(arg)) binary = false;
      else throw new Error(`${command}: option '${arg}' is not supported`);
    } else files.push(arg);
  }
  return { files: files.length === 0 ? ['-'] : files, binary };
}

/** coreutils' line: a name with a backslash or newline is escaped and the line starts with `\`. */
export function sumLine(hex: string, name: string, binary = false): string {
  const mark = binary ? '*' : ' ';
  if (!/[\\\n\r]/.test(name)) return `${hex} ${mark}${name}\n`;
  const escaped = name.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  return `\\${hex} ${mark}${escaped}\n`;
}

const CONTROL_ESCAPES: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r' };

/**
 * A name as coreutils quotes it in diagnostics (quotef, shell-escape style): bare when safe,
 * 'single' or "double" quoted, control characters as $'\n' pieces: 'new'$'\n''line'.
 */
export function quoteName(name: string): string {
  if (/^[A-Za-z0-9_./:@%+,=-]+$/.test(name)) return name;
  if (!/[\u0000-\u001f\u007f]/.test(name)) {
    if (!name.includes("'")) return `'${name}'`;
    if (!/["$`\\]/.test(name)) return `"${name}"`;
  }
  const control = (c: string) => `'$'${CONTROL_ESCAPES[c] ?? '\\' + c.charCodeAt(0).toString(8).padStart(3, '0')}''`;
  const quoted = `'${name.replace(/'/g, `'\\''`).replace(/[\u0000-\u001f\u007f]/g, control)}'`;
  return quoted.replace(/^''(?=.)/, '').replace(/(?<=.)''$/, '');
}



/** coreutils' wording of why a file could not be hashed. */
function reason(err: unknown): string {
  const e = toVfsError(err);
  return e.code === 'NOT_FOUND' ? 'No such file or directory' : e.message;
}

async function hashOne(vfs: Vfs, channel: ServerChannel, name: string, algorithm: ChecksumAlgorithm, work: HashOptions): Promise<string> {
  // Iterate without destroying the channel at the end of input: the digest still has to be sent.
  if (name === '-') return (await checksumStream(channel.iterator({ destroyOnReturn: false }), algorithm)).toString('hex');
  const file = await vfs.open(name, READ_ONLY);
  try {
    return (await checksumFile(file, algorithm, { start: 0, length: 0, blockSize: 0 }, work)).toString('hex');
  } finally {
    await file.close();
  }
}

async function runChecksum(channel: ServerChannel, command: string, ctx: SessionContext): Promise<void> {
  let status = 0;
  let home: SessionHome | undefined;
  // Nobody reads the digests of a session whose channel the peer closed: its hashing stops.
  const signal = ctx.closed;
  try {
    const [name = '', ...args] = splitShellWords(command);
    const algorithm = COMMANDS[name]!;
    const { files, binary } = fileArguments(name, args);
    // With the user's quota: the files it holds open are registered, so one removed meanwhile
    // stays charged until the hash lets go of it (SPEC §5).
    home = await openHome(ctx);
    const vfs = home.vfs;
    for (const file of files) {
      if (signal.aborted) return; // the channel is gone: no more files, nothing to write to
      // Busy while a file is hashed, which sends nothing for as long as it takes (a large file,
      // or a hash worker that yields to busy sessions): the idle timeout must not end it, and
      // shutdown waits for it. Standard input keeps the default (data seen lately): a client
      // that sends nothing is idle.
      if (file !== '-') ctx.isBusy = () => true;
      try {
        channel.write(sumLine(await hashOne(vfs, channel, file, algorithm, { owner: ctx.user, signal }), file, binary));
      } catch (err) {
        if (signal.aborted) return;
        status = 1;
        channel.stderr.write(`${name}: ${quoteName(file)}: ${reason(err)}\n`);
      } finally {
        delete ctx.isBusy;
      }
    }
  } catch (err) {
    status = 1;
    const prefix = err instanceof ShellWordsError ? `${command.trimStart().split(/[\s'"\\]/)[0]}: ` : '';
    channel.stderr.write(`${prefix}${(err as Error).message}\n`);
  } finally {
    home?.close();
  }
  channel.exit(status);
  channel.end();
}
