/**
 * coffer: the end users' client (SPEC §6). Connects, and runs the shell, a batch file, or one
 * command (args.ts parses the command line). Exit statuses: 0 ok, 1 failure, 2 usage,
 * 3 verification mismatch, 130 interrupted.
 */
import { setMaxListeners } from 'node:events';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { packageVersion } from '../../config/paths.js';
import { runBatch } from '../../client/batch.js';
import { Session } from '../../client/commands.js';
import { connect, SIGNAL_LISTENERS, type Connection } from '../../client/connection.js';
import { ClientError } from '../../client/errors.js';
import { Progress } from '../../client/progress.js';
import { askLine, askSecret, canPrompt } from '../../client/prompt.js';
import { runLine, runShell } from '../../client/shell.js';
import { EXIT, exitStatusFor, HELP, parse, parseInvocation, type Invocation } from './args.js';

async function openConnection(inv: Invocation, interactive: boolean): Promise<Connection> {
  const debug = inv.values.debug ? (line: string) => process.stderr.write(`debug: ${line}\n`) : null;
  return connect({
    user: inv.target.user,
    host: inv.target.host,
    port: inv.port,
    keyFile: inv.values.identity ?? null,
    acceptNewHostKey: Boolean(inv.values['accept-new-host-key']),
    ask: interactive ? askLine : null,
    askSecret: interactive ? askSecret : null,
    env: process.env,
    notice: (line) => process.stderr.write(line + '\n'),
    debug,
  });
}

function makeSession(conn: Connection, inv: Invocation): Session {
  const tty = Boolean(process.stdout.isTTY);
  const out = {
    print: (line: string) => process.stdout.write(line + '\n'),
    say: (line: string) => process.stdout.write(line + '\n'),
    get columns() {
      return process.stdout.columns || 80; // 0: a pty nobody sized
    },
    tty,
  };
  // No bar in batch mode (as OpenSSH's sftp -b), and none without a terminal.
  const progress = new Progress(process.stdout, tty && inv.mode !== 'batch');
  return new Session(conn, out, progress, !inv.values['no-verify']);
}

// One-shot commands and batches: Ctrl-C stops the transfer cleanly (part file kept); twice quits.
function interruptOnSigint(session: Session): () => void {
  const controller = new AbortController();
  setMaxListeners(SIGNAL_LISTENERS, controller.signal);
  session.signal = controller.signal;
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  return () => process.off('SIGINT', onSigint);
}

async function run(inv: Invocation): Promise<number> {
  const interactive = canPrompt() && inv.mode !== 'batch';
  const batchText = inv.mode === 'batch' ? await readBatch(inv.values.batch!) : '';
  const conn = await openConnection(inv, interactive);
  try {
    const session = makeSession(conn, inv);
    if (inv.mode === 'shell') {
      if (inv.line) await runLine(session, inv.line);
      const terminal = Boolean(process.stdin.isTTY && process.stdout.isTTY);
      const historyFile = join(process.env.HOME || homedir(), '.coffer_history');
      return await runShell(session, { input: process.stdin, output: process.stdout, terminal, historyFile, error: (l) => process.stderr.write(l + '\n') });
    }
    const release = interruptOnSigint(session);
    try {
      if (inv.mode === 'batch') {
        if (inv.line) await runLine(session, inv.line);
        await runBatch(session, batchText, { print: (l) => process.stdout.write(l + '\n'), error: (l) => process.stderr.write(l + '\n') });
      } else await runLine(session, inv.line);
    } finally {
      release();
    }
    return EXIT.ok;
  } finally {
    await conn.end();
  }
}

async function readBatch(file: string): Promise<string> {
  try {
    return file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    throw new ClientError('COFFER_BATCH', `cannot read batch file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The program: prints one `coffer: error: ...` line on failure and returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  let inv: Invocation;
  try {
    const { values } = parse(argv);
    if (values.help) return void process.stdout.write(HELP + '\n'), EXIT.ok;
    if (values.version) return void process.stdout.write(`coffer ${packageVersion()}\n`), EXIT.ok;
    inv = parseInvocation(argv);
  } catch (err) {
    return report(err, argv);
  }
  try {
    return await run(inv);
  } catch (err) {
    return report(err, argv);
  }
}

function report(err: unknown, argv: string[]): number {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`coffer: error: ${message.split('\n')[0]}\n`);
  if (argv.includes('--debug') && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
  return exitStatusFor(err);
}

// A closed pipe (`coffer ls host | head -1`) is not an error worth a message.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.ok);
});
void main(process.argv.slice(2)).then((status) => {
  process.exitCode = status;
});

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
