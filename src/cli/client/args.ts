/**
 * coffer's command line (SPEC §6): options before or after the sub-command, `[USER@]HOST[:PATH]`
 * targets, and the exit status of each kind of error. One-shot commands become the same shell
 * command line the interactive shell would run.
 */
import { CommandUsageError } from '../../client/errors.js';
import { quoteWord } from '../../client/format.js';
import { parseTarget, type Target } from '../../client/target.js';
import { parseCommandLine, UsageError } from '../common/run.js';

const OPTIONS = {
  port: { type: 'string', short: 'P' },
  identity: { type: 'string', short: 'i' },
  batch: { type: 'string', short: 'b' },
  recursive: { type: 'boolean', short: 'r' },
  long: { type: 'boolean', short: 'l' },
  all: { type: 'boolean', short: 'a' },
  algo: { type: 'string' },
  'accept-new-host-key': { type: 'boolean' },
  'no-verify': { type: 'boolean' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

/** Exit statuses of coffer. */
export const EXIT = { ok: 0, failure: 1, usage: 2, mismatch: 3, interrupted: 130 } as const;

export const HELP = `Usage:
  coffer [-P PORT] [-i KEYFILE] [-b BATCHFILE] [USER@]HOST     interactive shell, or a batch file
  coffer get [-r] [options] [USER@]HOST:REMOTE [LOCAL]
  coffer put [-r] [options] LOCAL [USER@]HOST:REMOTE
  coffer sum [--algo md5|sha1|sha256|sha512] [USER@]HOST:REMOTE
  coffer ls [-l] [USER@]HOST[:PATH]
  coffer df [USER@]HOST

Every transfer goes through NAME.coffer-part beside the target, continues where an interrupted one
stopped (after comparing checksums of the part), and is verified with the server's sha256 before it
is renamed into place.

Options (before or after the sub-command):
  -P PORT                  server port (default 22)
  -i KEYFILE               private key (else ~/.ssh/id_ed25519, id_ecdsa, id_rsa and the SSH agent)
  -b FILE                  run the commands of FILE ('-' = stdin); stop at the first failure
  -r                       get/put: whole folder trees
  --accept-new-host-key    trust an unknown host key (added to ~/.ssh/known_hosts); a changed key is always refused
  --no-verify              skip checksums (for servers with neither check-file nor exec sha256sum)
  --debug                  print connection details (cipher, request size, fast paths)
                           and stack traces of errors
  -h, --help               this help;  --version  the version

Passwords: asked on a terminal, or taken from the environment variable COFFER_PASSWORD.
Exit status: 0 ok, 1 failure, 2 usage, 3 checksum mismatch (part file kept), 130 interrupted.`;

const ONE_SHOT = new Set(['get', 'put', 'sum', 'ls', 'df']);

export type Values = ReturnType<typeof parse>['values'];

export function parse(argv: string[]) {
  return parseCommandLine(argv, OPTIONS);
}

/** A parsed invocation: which command, which host, what to run there. */
export interface Invocation {
  mode: 'shell' | 'batch' | 'one-shot';
  target: Target;
  port: number;
  /** The shell command line for one-shot mode. */
  line: string;
  values: Values;
}

/** Turns argv into an Invocation; throws UsageError. */
export function parseInvocation(argv: string[]): Invocation {
  const { values, positionals } = parse(argv);
  const port = parsePort(values.port);
  const first = positionals[0];
  if (first !== undefined && ONE_SHOT.has(first)) return { ...oneShot(first, positionals.slice(1), values), port, values };
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing [USER@]HOST (see --help)' : `unexpected argument '${positionals[1]}' (see --help)`);
  const target = needTarget(positionals[0]!);
  const line = target.path ? `cd ${quoteWord(target.path)}` : '';
  return { mode: values.batch !== undefined ? 'batch' : 'shell', target, port, line, values };
}

function oneShot(cmd: string, args: string[], values: Values): Omit<Invocation, 'port' | 'values'> {
  const r = values.recursive ? '-r ' : '';
  const q = quoteWord;
  switch (cmd) {
    case 'get': {
      if (args.length < 1 || args.length > 2) throw new UsageError('usage: coffer get [-r] [USER@]HOST:REMOTE [LOCAL]');
      const target = needTarget(args[0]!, true);
      return { mode: 'one-shot', target, line: `get ${r}${q(target.path!)}${args[1] !== undefined ? ' ' + q(args[1]) : ''}` };
    }
    case 'put': {
      if (args.length !== 2) throw new UsageError('usage: coffer put [-r] LOCAL [USER@]HOST:REMOTE');
      const target = needTarget(args[1]!, true, true);
      return { mode: 'one-shot', target, line: `put ${r}${q(args[0]!)} ${q(target.path || '.')}` };
    }
    case 'sum': {
      if (args.length !== 1) throw new UsageError('usage: coffer sum [--algo A] [USER@]HOST:REMOTE');
      const target = needTarget(args[0]!, true);
      return { mode: 'one-shot', target, line: `sum --algo ${values.algo ?? 'sha256'} ${q(target.path!)}` };
    }
    case 'ls': {
      if (args.length !== 1) throw new UsageError('usage: coffer ls [-l] [USER@]HOST[:PATH]');
      const target = needTarget(args[0]!);
      const flags = `${values.long ? 'l' : ''}${values.all ? 'a' : ''}`;
      return { mode: 'one-shot', target, line: `ls ${flags ? `-${flags} ` : ''}${q(target.path || '.')}` };
    }
    default: {
      if (args.length !== 1) throw new UsageError('usage: coffer df [USER@]HOST');
      const target = needTarget(args[0]!);
      return { mode: 'one-shot', target, line: `df ${q(target.path || '.')}` };
    }
  }
}

function needTarget(text: string, pathRequired = false, emptyPathOk = false): Target {
  const t = parseTarget(text);
  if (!t) throw new UsageError(`bad host '${text}' (use [USER@]HOST${pathRequired ? ':PATH' : ''})`);
  if (pathRequired && (t.path === null || (t.path === '' && !emptyPathOk))) throw new UsageError(`'${text}' names no remote path (use [USER@]HOST:PATH)`);
  return t;
}

function parsePort(text: string | undefined): number {
  if (text === undefined) return 22;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new UsageError(`bad port '${text}' (1-65535)`);
  return n;
}

/** Exit status for an error: by its code, so wrapped errors (batch) keep it. */
export function exitStatusFor(err: unknown): number {
  const code = (err as { code?: unknown })?.code;
  if (code === 'COFFER_VERIFY_MISMATCH') return EXIT.mismatch;
  if (code === 'COFFER_INTERRUPTED') return EXIT.interrupted;
  if (err instanceof UsageError || err instanceof CommandUsageError || code === 'COFFER_CMD_USAGE') return EXIT.usage;
  return EXIT.failure;
}
