/**
 * The reference for the glob matcher's property tests: Coffer's first implementation, which
 * translated a pattern into a RegExp (`*` -> `[^/]*`). Its answers define the semantics the
 * automaton keeps; V8's backtracking makes it exponential (`*a*a*a*a*a*a*a*a*b` against 44 a's took
 * seconds), so it is only ever run on short inputs.
 */

/** The RegExp of one component's pattern, or null when the pattern is malformed. */
export function referenceRegExp(pattern: string): RegExp | null {
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

/** The reference answer: null when the pattern is malformed, else whether `name` matches. */
export function referenceMatch(pattern: string, name: string): boolean | null {
  const re = referenceRegExp(pattern);
  if (re === null) return null;
  if (name.startsWith('.') && !pattern.startsWith('.') && !pattern.startsWith('\\.')) return false;
  return re.test(name);
}
