/**
 * The exec command line of legacy scp. OpenSSH's `scp -O` and PuTTY's pscp send
 * `scp [-v] [-r] [-p] [-d] -t|-f [--] PATH...` as one string for the remote shell, with the path
 * exactly as the user typed it after the colon (neither client quotes it: the user quotes for the
 * remote shell). There is no shell here, so the line is split as a POSIX shell would split it
 * (single quotes, double quotes, backslashes, `~` at the start of a word, unquoted `*?[` marking a
 * pattern) and anything a shell would do more with (`;|&<>()$` and backquotes, comments, control
 * characters) is refused rather than guessed at.
 */

/** One word of the command line. */
export interface ShellWord {
  /** The word with its quoting removed. */
  text: string;
  /** A glob pattern (quoted glob characters escaped with `\`) when the word has unquoted `*?[`. */
  pattern: string | null;
  /** Starts with an unquoted `~` (tilde expansion: `~` and `~/x` are the home). */
  tilde: boolean;
}

/** What an scp command asks for. */
export interface ScpCommand {
  /** `-t`: receive files (upload); `-f`: send them (download). */
  mode: 'sink' | 'source';
  /** `-r`: folders, with D/E records. */
  recursive: boolean;
  /** `-p`: times (T records) and modes as sent. */
  preserve: boolean;
  /** `-d`: the target must be a folder. */
  targetIsDir: boolean;
  /** The target (sink: exactly one) or the sources (source: at least one). */
  paths: ShellWord[];
}

/** A command this server will not run; the message is safe to show (it echoes no input). */
export class ScpCommandError extends Error {}

/** Longest command line accepted (several paths of up to 4096 bytes each). */
export const MAX_COMMAND_LENGTH = 65536;

// Characters a shell would act on outside quotes, other than the ones handled below.
const SHELL_SPECIAL = new Set([';', '&', '|', '<', '>', '(', ')', '$', '`', '\n', '\r']);
const GLOB = new Set(['*', '?', '[']);
// Control characters other than tab (and the newline handled above), DEL, invalid UTF-8.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/;

const escapeGlob = (s: string): string => s.replace(/[*?[\]\\]/g, '\\$&');

/** Splits `line` into words as a POSIX shell would; throws ScpCommandError on shell syntax. */
export function splitShellWords(line: string): ShellWord[] {
  if (line.length > MAX_COMMAND_LENGTH) throw new ScpCommandError('command too long');
  if (CONTROL.test(line)) throw new ScpCommandError('control characters in the command');
  const words: ShellWord[] = [];
  let word: ShellWord | null = null;
  const add = (text: string, pattern = escapeGlob(text)) => {
    word ??= { text: '', pattern: '', tilde: false };
    word.text += text;
    word.pattern += pattern;
  };
  const end = () => {
    if (word) words.push({ ...word, pattern: hasGlob(word.pattern!) ? word.pattern : null });
    word = null;
  };
  for (let i = 0; i < line.length; ) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      end();
      i += 1;
    } else if (c === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) throw new ScpCommandError('unterminated quote');
      add(line.slice(i + 1, close));
      i = close + 1;
    } else if (c === '"') {
      const [text, next] = doubleQuoted(line, i + 1);
      add(text);
      i = next;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new ScpCommandError('trailing backslash');
      add(line[i + 1]!);
      i += 2;
    } else if (SHELL_SPECIAL.has(c) || (c === '#' && word === null)) {
      throw new ScpCommandError('shell syntax is not supported');
    } else {
      if (c === '~' && word === null) word = { text: '', pattern: '', tilde: true };
      add(c, GLOB.has(c) ? c : escapeGlob(c));
      i += 1;
    }
  }
  end();
  return words;
}

/** The text of a double-quoted string starting at `start` (after the quote), and the index after it. */
function doubleQuoted(line: string, start: number): [string, number] {
  let text = '';
  for (let i = start; i < line.length; i += 1) {
    const c = line[i]!;
    if (c === '"') return [text, i + 1];
    if (c === '$' || c === '`') throw new ScpCommandError('shell syntax is not supported');
    if (c === '\\' && i + 1 < line.length && '$`"\\'.includes(line[i + 1]!)) {
      text += line[i + 1];
      i += 1;
    } else text += c;
  }
  throw new ScpCommandError('unterminated quote');
}

/** True when `pattern` has an unescaped glob character. */
function hasGlob(pattern: string): boolean {
  for (let i = 0; i < pattern.length; i += 1) {
    if (pattern[i] === '\\') i += 1;
    else if (GLOB.has(pattern[i]!)) return true;
  }
  return false;
}

/** True when the command line names scp (the route then owns every answer, even a refusal). */
export function isScpCommand(line: string): boolean {
  return /^[ \t]*scp([ \t]|$)/.test(line);
}

/**
 * Parses `scp [-r] [-p] [-d] [-v] [-q] -t|-f [--] PATH...` (options may be combined, as getopt
 * allows, and stop at the first word that is not one). Throws ScpCommandError otherwise.
 */
export function parseScpCommand(line: string): ScpCommand {
  const words = splitShellWords(line);
  if (words[0]?.text !== 'scp' || words[0].pattern !== null) throw new ScpCommandError('not an scp command');
  const flags = new Set<string>();
  let i = 1;
  for (; i < words.length; i += 1) {
    const w = words[i]!.text;
    if (w === '--') {
      i += 1;
      break;
    }
    if (!w.startsWith('-') || w === '-' || words[i]!.pattern !== null) break;
    for (const ch of w.slice(1)) {
      if (!'rpdvqtf'.includes(ch)) throw new ScpCommandError(`unsupported option -${/^[\x21-\x7e]$/.test(ch) ? ch : '?'}`);
      flags.add(ch);
    }
  }
  const paths = words.slice(i);
  if (flags.has('t') === flags.has('f')) throw new ScpCommandError('exactly one of -t and -f is needed');
  const mode = flags.has('t') ? 'sink' : 'source';
  if (mode === 'sink' && paths.length !== 1) throw new ScpCommandError('ambiguous target');
  if (mode === 'source' && paths.length === 0) throw new ScpCommandError('no file to send');
  return { mode, recursive: flags.has('r'), preserve: flags.has('p'), targetIsDir: flags.has('d'), paths };
}

/**
 * The virtual path a word names: `~` and `~/x` are the home (`/` and `/x`), anything else is taken
 * as is (relative paths start at the home; the Vfs normalises and jails it).
 */
export function wordPath(word: ShellWord): string {
  if (word.tilde && (word.text === '~' || word.text.startsWith('~/'))) return word.text === '~' ? '/' : word.text.slice(1);
  return word.text;
}
