/**
 * Where coffer-users gets secrets and keys: a hidden prompt asked twice on a terminal, or standard
 * input (`--password-stdin`, `--key -`), or files. Never prompts when stdin is not a TTY.
 */
import { readFile } from 'node:fs/promises';
import prompts from 'prompts';
import { MAX_PASSWORD_BYTES } from '../../users/password.js';
import { parseAuthorizedKeys, type PublicKey } from '../../users/public-keys.js';
import { InputError } from '../../util/errors.js';

/** Reads all of standard input as UTF-8 (bounded: keys and passwords are small). */
export async function readStdin(limit = 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    total += (chunk as Buffer).length;
    if (total > limit) throw new InputError('standard input is too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Checks a password's length and content; returns it unchanged. */
export function checkPassword(password: string): string {
  if (password === '') throw new InputError('the password is empty');
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw new InputError(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`);
  return password;
}

/** The first line of standard input, as `--password-stdin` takes it (like `docker login`). */
export async function passwordFromStdin(): Promise<string> {
  const text = await readStdin();
  return checkPassword(text.split(/\r?\n/)[0] ?? '');
}

/** True when a password can be asked for (stdin and stderr are terminals). */
export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Asks for a new password twice, hidden, on the terminal; refuses a mismatch. */
export async function promptNewPassword(user: string): Promise<string> {
  let cancelled = false;
  const ask = async (message: string) => {
    const answer = await prompts(
      { type: 'invisible', name: 'value', message, stdout: process.stderr },
      { onCancel: () => (cancelled = true) },
    );
    if (cancelled || typeof answer.value !== 'string') throw new InputError('cancelled; nothing changed');
    return answer.value as string;
  };
  const first = checkPassword(await ask(`New password for ${user}`));
  const second = await ask('Retype the password');
  if (first !== second) throw new InputError('the passwords do not match; nothing changed');
  return first;
}

/** Reads authorized_keys text from a file, or from standard input for `-`, and parses it. */
export async function readKeys(source: string): Promise<PublicKey[]> {
  let text: string;
  if (source === '-') text = await readStdin();
  else {
    try {
      text = await readFile(source, 'utf8');
    } catch (err) {
      throw new InputError(`cannot read key file ${source}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  }
  return parseAuthorizedKeys(text, source === '-' ? 'standard input' : source);
}
