/**
 * What every Coffer program shares at its edge (SPEC §2): argument parsing with one-line errors,
 * and the single place where an error becomes a `PROGRAM: error: ...` line and an exit status.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../../config/load.js';
import { InputError } from '../../util/errors.js';
import { SizeError } from '../../util/size.js';
import { StopRequested } from './stop-signals.js';

/** Exit statuses shared by the programs. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A wrong command line: exit status 2 with the message. */
export class UsageError extends InputError {
  override readonly code = 'COFFER_USAGE';
}

/** Parses argv with node's parseArgs (options allowed before and after positionals). */
export function parseCommandLine<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError(tidyParseError(e.message));
    throw err;
  }
}

function tidyParseError(message: string): string {
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown option '${unknown[1]}' (see --help)`;
  const missing = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(message);
  if (missing) return `option '${missing[1]}' needs a value`;
  return message.split('\n')[0]!.replace(/\. To specify.*$/, '');
}

/** Exit status for an error: 2 for bad input of any kind, 128 + N for a stop by signal N, 1 for everything else. */
export function exitStatusOf(err: unknown): number {
  if (err instanceof StopRequested) return err.exitStatus;
  return err instanceof InputError || err instanceof ConfigError || err instanceof SizeError ? EXIT.usage : EXIT.failure;
}

/** Options of runProgram. */
export interface RunOptions {
  /**
   * Exit as soon as main settles instead of when the event loop empties: for a program whose main
   * closes everything of its own, so that work it abandoned (a hash on the thread pool) cannot
   * delay the exit, and so that a signal cannot land in Node's teardown, where the handlers are
   * gone and it kills the process (a natural exit did in 73 of 150 tries; process.exit in none).
   */
  exitWhenDone?: boolean;
}

/**
 * Runs a program's main function and exits: with main's status, or with a one-line
 * `PROGRAM: error: ...` on stderr (the stack too when --debug is among the arguments). A stop by
 * signal (StopRequested) exits at once after its line: what the command abandoned (a read of
 * stdin that may never end) must not keep the process alive.
 */
export function runProgram(program: string, main: (argv: string[]) => Promise<number | void>, options: RunOptions = {}): void {
  const argv = process.argv.slice(2);
  // A closed pipe (`coffer-users list | head -1`) is not an error worth a message.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
  });
  main(argv).then(
    (status) => {
      process.exitCode = status ?? EXIT.ok;
      // stdout and stderr are synchronous on Linux (files, pipes, terminals): nothing is lost.
      if (options.exitWhenDone) process.exit();
    },
    (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      process.stderr.write(`${program}: error: ${message.split('\n')[0]}\n`);
      if (argv.includes('--debug') && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
      process.exitCode = exitStatusOf(err);
      if (options.exitWhenDone || err instanceof StopRequested) process.exit();
    },
  );
}
