/**
 * The interactive shell: node:readline with tab completion of commands and remote/local paths,
 * history (kept in ~/.coffer_history), one-line errors that keep the shell alive, and Ctrl-C
 * that stops the running transfer (its part file stays for a resume) rather than the program.
 */
import { setMaxListeners } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { findCommand, type Session } from './commands.js';
import { makeCompleter } from './completer.js';
import { SIGNAL_LISTENERS } from './connection.js';
import { CommandUsageError } from './errors.js';
import { splitWords } from './format.js';
import { TypeAhead } from './type-ahead.js';

/** What the shell reads from and writes to. */
export interface ShellIO {
  input: Readable;
  output: Writable;
  /** Error lines (stderr). */
  error(line: string): void;
  terminal: boolean;
  /** File to load and save history in (null: none). */
  historyFile: string | null;
}

const HISTORY_SIZE = 500;
export const PROMPT = 'coffer> ';

/** Runs one command line in the session; resolves false for quit/exit. Throws the command's error. */
export async function runLine(session: Session, line: string): Promise<boolean> {
  let words: string[];
  try {
    words = splitWords(line);
  } catch (err) {
    throw new CommandUsageError((err as Error).message);
  }
  if (words.length === 0) return true;
  const [name, ...args] = words;
  if (name === 'quit' || name === 'exit' || name === 'bye') return false;
  const cmd = findCommand(name!);
  if (!cmd) throw new CommandUsageError(`unknown command '${name}' (type help)`);
  const lost = session.conn.lost;
  if (lost.aborted) throw lost.reason as Error;
  await untilLost(cmd.run(session, args), lost);
  return true;
}

/** How long a command may go on after the connection dropped before the loss is reported instead. */
const LOST_GRACE_MS = 2000;

/**
 * A command's result, or, LOST_GRACE_MS after the connection dropped, its loss: ssh2 never answers
 * a request left on a dropped connection, and nothing may wait for one forever. Transfers end
 * sooner on their own, with the part file's state in their message.
 */
function untilLost<T>(work: Promise<T>, lost: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onLost = () => (timer = setTimeout(() => reject(lost.reason as Error), LOST_GRACE_MS));
    if (lost.aborted) onLost();
    else lost.addEventListener('abort', onLost, { once: true });
    work.then(resolve, reject).finally(() => {
      lost.removeEventListener('abort', onLost);
      clearTimeout(timer);
    });
  });
}

/**
 * Runs the shell until quit, exit, end of input or a lost connection. Resolves 0, or 1 if a
 * command failed without a terminal or the connection was lost.
 */
export async function runShell(session: Session, io: ShellIO): Promise<number> {
  const history = io.historyFile && io.terminal ? await loadHistory(io.historyFile) : [];
  let running: AbortController | null = null;
  // On a terminal, readline gets one line at a time: keys typed while a command runs wait for
  // the next prompt, as with OpenSSH's sftp (type-ahead.ts); a Ctrl-C among them stops the command.
  const typeAhead = io.terminal ? new TypeAhead(io.input, () => running?.abort()) : null;
  const rl = createInterface({
    input: typeAhead ?? io.input,
    output: io.output,
    terminal: io.terminal,
    historySize: HISTORY_SIZE,
    history,
    removeHistoryDuplicates: true,
    ...(io.terminal ? { completer: callbackCompleter(makeCompleter(session)) } : {}),
  });
  rl.on('SIGINT', () => {
    if (running) running.abort();
    else {
      rl.write('', { ctrl: true, name: 'u' });
      io.output.write('^C\n');
      rl.prompt();
    }
  });
  let failed = false;
  let lostConnection = false;
  rl.setPrompt(PROMPT);
  if (io.terminal) rl.prompt();
  for await (const line of rl) {
    if (!io.terminal && line.trim() !== '') io.output.write(`${PROMPT}${line}\n`);
    running = new AbortController();
    setMaxListeners(SIGNAL_LISTENERS, running.signal);
    session.signal = running.signal;
    try {
      if (!(await runLine(session, line))) break;
    } catch (err) {
      failed = true;
      io.error(`error: ${(err as Error).message.split('\n')[0]}`);
      // Without a connection there is nothing left to do (OpenSSH's sftp exits too).
      if (session.conn.lost.aborted) {
        lostConnection = true;
        break;
      }
    } finally {
      running = null;
      session.signal = undefined;
    }
    if (io.terminal) rl.prompt();
    typeAhead?.release();
  }
  if (io.terminal && io.historyFile) await saveHistory(io.historyFile, rl);
  rl.close();
  typeAhead?.detach();
  return (failed && !io.terminal) || lostConnection ? 1 : 0;
}

function callbackCompleter(complete: (line: string) => Promise<[string[], string]>) {
  return (line: string, cb: (err: null, result: [string[], string]) => void) => {
    void complete(line).then((r) => cb(null, r));
  };
}

async function loadHistory(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  // readline keeps the newest entry first.
  return text.split('\n').filter(Boolean).slice(-HISTORY_SIZE).reverse();
}

async function saveHistory(file: string, rl: Interface): Promise<void> {
  const entries = (rl as unknown as { history?: string[] }).history ?? [];
  await writeFile(file, [...entries].reverse().join('\n') + '\n', { mode: 0o600 }).catch(() => undefined);
}
