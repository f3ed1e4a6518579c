/**
 * Questions on the terminal: only when stdin and stderr are TTYs (SPEC §2: no prompt without a
 * TTY). Prompts go to stderr so stdout stays the command's output.
 */
import { createInterface } from 'node:readline/promises';

/** True when the user can be asked something. */
export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Asks one question and returns the answer line (trimmed); null on Ctrl-C or end of input. */
export async function askLine(question: string): Promise<string | null> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    const closed = new Promise<null>((resolve) => rl.once('close', () => resolve(null)));
    const answer = await Promise.race([rl.question(question), closed]);
    return answer === null ? null : answer.trim();
  } finally {
    rl.close();
  }
}

/** Asks for a secret without echo; null when the user cancels. */
export async function askSecret(message: string): Promise<string | null> {
  // Loaded on demand: most runs never ask, and the module costs start-up time.
  const { default: prompts } = await import('prompts');
  let cancelled = false;
  const answer = (await prompts(
    { type: 'password', name: 'value', message, stdout: process.stderr },
    { onCancel: () => { cancelled = true; } },
  )) as { value?: string };
  return cancelled || answer.value === undefined ? null : answer.value;
}
