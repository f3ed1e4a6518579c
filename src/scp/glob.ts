/**
 * Shell patterns in the last component of a download path (`scp -O 'host:*.txt' .`): what a remote
 * shell would expand before running scp. Only `*`, `?` and `[...]` (with `!` or `^` to negate);
 * `\x` is a literal x. A leading dot must be matched explicitly, as in sh.
 */

/** The RegExp of one path component's pattern, or null when the pattern is malformed. */
export function globToRegExp(pattern: string): RegExp | null {
  let out = '^';
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i]!;
    if (c === '\\') {
      i += 1;
      if (i >= pattern.length) return null;
      out += escapeRegExp(pattern[i]!);
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const cls = bracket(pattern, i);
      if (cls === null) out += '\\[';
      else {
        out += cls.source;
        i = cls.end;
      }
    } else out += escapeRegExp(c);
  }
  try {
    return new RegExp(out + '$', 'u');
  } catch {
    return null;
  }
}

/** A `[...]` class starting at `start`: its RegExp source and the index of its `]`, or null. */
function bracket(pattern: string, start: number): { source: string; end: number } | null {
  let i = start + 1;
  let negate = false;
  if (pattern[i] === '!' || pattern[i] === '^') {
    negate = true;
    i += 1;
  }
  let body = '';
  for (let first = true; i < pattern.length; i += 1, first = false) {
    const c = pattern[i]!;
    if (c === ']' && !first) return { source: `[${negate ? '^' : ''}${body}]`, end: i };
    if (c === '\\' && i + 1 < pattern.length) i += 1;
    const ch = pattern[i]!;
    body += ch === '-' ? '-' : escapeRegExp(ch);
  }
  return null;
}

const escapeRegExp = (s: string): string => s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

/** True when `name` matches the component pattern `re` (a leading dot only if the pattern has one). */
export function globMatches(re: RegExp, pattern: string, name: string): boolean {
  if (name.startsWith('.') && !pattern.startsWith('.') && !pattern.startsWith('\\.')) return false;
  return re.test(name);
}

/** Splits a pattern at its last unescaped `/`: the folder part must hold no glob characters. */
export function splitPattern(pattern: string): { dir: string; last: string } | null {
  let cut = -1;
  for (let i = 0; i < pattern.length; i += 1) {
    if (pattern[i] === '\\') i += 1;
    else if (pattern[i] === '/') cut = i;
  }
  const dir = cut < 0 ? '' : pattern.slice(0, cut);
  if (/(^|[^\\])[*?[]/.test(dir)) return null;
  return { dir: dir.replace(/\\(.)/g, '$1'), last: pattern.slice(cut + 1) };
}
