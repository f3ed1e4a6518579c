/**
 * Splits an exec command line into words the way a POSIX shell would quote them: '...' literal,
 * "..." with \" \\ \$ \` escapes, and backslash escapes outside quotes (rclone and OpenSSH's scp
 * quote paths like this: `sha1sum '/dir/it'\''s.txt'`). There is no shell behind it, so anything
 * a shell would expand or interpret outside quotes ($, `, globs, redirections, ;, |, &) is refused
 * rather than silently taken literally.
 */

/** A command line that cannot be split (unterminated quote, a shell feature). */
export class ShellWordsError extends Error {
  readonly code = 'COFFER_SHELL_WORDS';
}

const SPECIAL = new Set([...'|&;<>()$`*?[]{}~#!\n\r']);

/** The words of `line`; throws ShellWordsError. */
export function splitShellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      [word, inWord, i] = ['', false, i + 1];
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new ShellWordsError('unterminated single quote');
      [word, inWord, i] = [word + line.slice(i + 1, end), true, end + 1];
    } else if (c === '"') {
      const [text, next] = doubleQuoted(line, i + 1);
      [word, inWord, i] = [word + text, true, next];
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new ShellWordsError('backslash at the end of the command');
      [word, inWord, i] = [word + line[i + 1], true, i + 2];
    } else if (SPECIAL.has(c)) {
      throw new ShellWordsError(`'${c === '\n' ? '\\n' : c}' outside quotes is not supported (commands run without a shell)`);
    } else [word, inWord, i] = [word + c, true, i + 1];
  }
  if (inWord) words.push(word);
  return words;
}

/** The text of a "..." string starting after its opening quote, and the index after its end. */
function doubleQuoted(line: string, from: number): [string, number] {
  let text = '';
  for (let i = from; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') return [text, i + 1];
    if (c === '\\' && '"\\$`'.includes(line[i + 1] ?? '')) text += line[++i];
    else if (c === '$' || c === '`') throw new ShellWordsError(`'${c}' inside double quotes is not supported (commands run without a shell)`);
    else text += c;
  }
  throw new ShellWordsError('unterminated double quote');
}

/** Quotes a word for a POSIX shell (single quotes, `'\''` for a quote inside). */
export function quoteShellWord(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
