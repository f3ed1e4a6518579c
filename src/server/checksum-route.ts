/**
 * Exec `md5sum`, `sha1sum`, `sha256sum`, `sha384sum` and `sha512sum` with one or more paths
 * (SPEC §5), answered in-process through the user's jailed Vfs and printed as coreutils does:
 * `<hex>  <path>` lines, errors as `sha256sum: PATH: No such file or directory` on stderr and exit
 * status 1. With no path (or `-`) they hash standard input, which is how rclone detects them.
 */
import type { ServerChannel } from 'ssh2';
import { toStatus } from '../sftp/status.js';
import { ShellWordsError, splitShellWords } from '../util/shell-words.js';
import { checksumFile, checksumStream, type ChecksumAlgorithm } from '../vfs/checksum.js';
import { LocalVfs } from '../vfs/local-vfs.js';
import type { Vfs } from '../vfs/vfs.js';
import { VfsError } from '../vfs/vfs-error.js';
import type { ExecRoute, SessionContext } from './session-router.js';

const COMMANDS: Record<string, ChecksumAlgorithm> = {
  md5sum: 'md5',
  sha1sum: 'sha1',
  sha256sum: 'sha256',
  sha384sum: 'sha384',
  sha512sum: 'sha512',
};

/** coreutils' --binary and --text change nothing on Linux; anything else is refused. */
const IGNORED_OPTIONS = new Set(['-b', '--binary', '-t', '--text']);
const READ_ONLY = { read: true, write: false, append: false, creat: false, trunc: false, excl: false };

/** The hash commands' exec route. */
export const checksumRoute: ExecRoute = {
  name: 'checksum',
  matches: (command) => Object.hasOwn(COMMANDS, command.trimStart().split(/[\s'"\\]/)[0] ?? ''),
  run: runChecksum,
};

/** The names to hash in `args` (after options; none means standard input). */
export function fileArguments(command: string, args: string[]): string[] {
  const files: string[] = [];
  let options = true;
  for (const arg of args) {
    if (options && arg === '--') options = false;
    else if (options && arg.startsWith('-') && arg !== '-') {
      if (!IGNORED_OPTIONS.has(arg)) throw new Error(`${command}: option '${arg}' is not supported`);
    } else files.push(arg);
  }
  return files.length === 0 ? ['-'] : files;
}

/** coreutils' line: a name with a backslash or newline is escaped and the line starts with `\`. */
export function sumLine(hex: string, name: string): string {
  if (!/[\\\n]/.test(name)) return `${hex}  ${name}\n`;
  return `\\${hex}  ${name.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n`;
}

/** coreutils' wording of why a file could not be hashed. */
function reason(err: unknown): string {
  const errno = (err as NodeJS.ErrnoException)?.code;
  if ((err instanceof VfsError && err.code === 'NOT_FOUND') || errno === 'ENOENT' || errno === 'ENOTDIR') return 'No such file or directory';
  return toStatus(err).message;
}

async function hashOne(vfs: Vfs, channel: ServerChannel, name: string, algorithm: ChecksumAlgorithm): Promise<string> {
  // Iterate without destroying the channel at the end of input: the digest still has to be sent.
  if (name === '-') return (await checksumStream(channel.iterator({ destroyOnReturn: false }), algorithm)).toString('hex');
  const file = await vfs.open(name, READ_ONLY);
  try {
    const [digest] = await checksumFile(file, algorithm, { start: 0, length: 0, blockSize: 0 });
    return digest!.toString('hex');
  } finally {
    await file.close();
  }
}

async function runChecksum(channel: ServerChannel, command: string, ctx: SessionContext): Promise<void> {
  let status = 0;
  try {
    const [name = '', ...args] = splitShellWords(command);
    const algorithm = COMMANDS[name]!;
    const files = fileArguments(name, args);
    const vfs = await LocalVfs.create(ctx.home, { symlinks: ctx.config.symlinks });
    for (const file of files) {
      try {
        channel.write(sumLine(await hashOne(vfs, channel, file, algorithm), file));
      } catch (err) {
        status = 1;
        channel.stderr.write(`${name}: ${file}: ${reason(err)}\n`);
      }
    }
  } catch (err) {
    status = 1;
    const prefix = err instanceof ShellWordsError ? `${command.trimStart().split(/[\s'"\\]/)[0]}: ` : '';
    channel.stderr.write(`${prefix}${(err as Error).message}\n`);
  }
  channel.exit(status);
  channel.end();
}
