/**
 * Tab completion for the shell: command names first, then remote or local paths depending on
 * the command and the word's position (get: remote then local; put: local then remote).
 */
import { readdir } from 'node:fs/promises';
import { ALIASES, COMMANDS, findCommand, type Session } from './commands.js';

/** A name in a folder and whether it is a folder itself. */
export interface DirEntry {
  name: string;
  dir: boolean;
}

/** Escapes spaces and quotes the way splitWords reads them back. */
export function escapeWord(word: string): string {
  return word.replace(/([\s'"\\])/g, '\\$1');
}

/** Completions for `partial` among `entries` of the folder part of `partial`. */
export function completePath(partial: string, entries: DirEntry[]): string[] {
  const slash = partial.lastIndexOf('/');
  const head = slash >= 0 ? partial.slice(0, slash + 1) : '';
  const base = partial.slice(slash + 1);
  return entries
    .filter((e) => e.name.startsWith(base) && (base.startsWith('.') || !e.name.startsWith('.')))
    .map((e) => escapeWord(head + e.name) + (e.dir ? '/' : ''))
    .sort();
}

/** What kind of word is at the end of `line`: a command, a remote or a local path, or nothing. */
export function wordKind(line: string): { kind: 'command' | 'remote' | 'local' | 'none'; partial: string } {
  const words = line.split(/(?<!\\) +/);
  const partial = (words.pop() ?? '').replace(/\\(.)/g, '$1');
  if (words.length === 0) return { kind: 'command', partial };
  const cmd = findCommand(words[0]!);
  const args = words.slice(1).filter((w) => !w.startsWith('-'));
  if (!cmd || cmd.complete.length === 0 || partial.startsWith('-')) return { kind: 'none', partial };
  const kind = cmd.complete[Math.min(args.length, cmd.complete.length - 1)]!;
  return { kind, partial };
}

/** A readline completer over a session. Errors complete to nothing. */
export function makeCompleter(session: Session): (line: string) => Promise<[string[], string]> {
  return async (line) => {
    const { kind, partial } = wordKind(line);
    const raw = lastToken(line);
    try {
      if (kind === 'command') {
        const names = [...Object.keys(COMMANDS), ...Object.keys(ALIASES), 'quit', 'exit'].filter((n) => n.startsWith(partial)).sort();
        return [names.map((n) => n + ' '), raw];
      }
      if (kind === 'none') return [[], raw];
      const dirPart = partial.includes('/') ? partial.slice(0, partial.lastIndexOf('/') + 1) : '';
      const entries = kind === 'remote' ? await remoteEntries(session, dirPart) : await localEntries(session, dirPart);
      return [completePath(partial, entries), raw];
    } catch {
      return [[], raw];
    }
  };
}

async function remoteEntries(session: Session, dirPart: string): Promise<DirEntry[]> {
  const list = await session.conn.client.list(session.remote(dirPart || '.'));
  return list.map((e) => ({ name: e.name, dir: e.type === 'd' }));
}

async function localEntries(session: Session, dirPart: string): Promise<DirEntry[]> {
  const dir = session.local(dirPart || '.');
  const list = await readdir(dir, { withFileTypes: true });
  return list.map((e) => ({ name: e.name, dir: e.isDirectory() }));
}

/** The last word of a line as typed (escapes kept): what readline replaces. */
export function lastToken(line: string): string {
  return /(?:^|(?<!\\) )((?:\\.|[^ \\])*)$/.exec(line)?.[1] ?? '';
}
