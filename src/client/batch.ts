/**
 * `coffer -b FILE` (`-` = standard input), as OpenSSH's sftp -b: each command is echoed as
 * `coffer> CMD`, the first failing command stops the batch (its line and error are named); a `-`
 * prefix ignores that command's failure, `@` suppresses the echo. No prompts in batch mode.
 */
import type { Session } from './commands.js';
import { ClientError } from './errors.js';
import { runLine, PROMPT } from './shell.js';

/** A batch stopped at a failing command; `cause` keeps the command's error (exit status 3 stays 3). */
export class BatchError extends ClientError {
  constructor(
    readonly lineNumber: number,
    readonly command: string,
    override readonly cause: Error,
  ) {
    super((cause as ClientError).code ?? 'COFFER_BATCH', `batch line ${lineNumber}: '${command}' failed: ${cause.message.split('\n')[0]}`);
  }
}

/** Runs the batch text; resolves when done, rejects with BatchError at the first failure. */
export async function runBatch(session: Session, text: string, io: { print(line: string): void; error(line: string): void }): Promise<void> {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    let ignoreError = false;
    let echo = true;
    for (;;) {
      if (line.startsWith('-')) [ignoreError, line] = [true, line.slice(1).trimStart()];
      else if (line.startsWith('@')) [echo, line] = [false, line.slice(1).trimStart()];
      else break;
    }
    if (echo) io.print(`${PROMPT}${line}`);
    try {
      if (!(await runLine(session, line))) return;
    } catch (err) {
      // A lost connection ends the batch even under '-': every later command would fail too.
      if (!ignoreError || session.conn.lost.aborted) throw new BatchError(i + 1, line, err as Error);
      io.error(`error: ${(err as Error).message.split('\n')[0]}`);
    }
  }
}
