/**
 * Text the client prints besides progress: `df` as coreutils `df -h` prints sizes (powers of
 * 1024, rounded up, one decimal below 10: 10M, 1.5G), listings in columns, command words.
 */

/** StatVfs numbers as ssh2 reports them (f_frsize, f_blocks, f_bfree, f_bavail). */
export interface VfsNumbers {
  f_frsize: number;
  f_bsize: number;
  f_blocks: number;
  f_bfree: number;
  f_bavail: number;
}

/** coreutils' human_readable with -h: ceiling rounding, `512`, `1.5K`, `10M`, `1.0G`. */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return String(Math.ceil(bytes));
  const units = 'KMGTPE';
  let v = bytes;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  if (v < 10) {
    const tenths = Math.ceil(v * 10 - 1e-9) / 10;
    if (tenths < 10) return `${tenths.toFixed(1)}${units[i]}`;
    v = tenths;
  }
  const whole = Math.ceil(v - 1e-9);
  if (whole >= 1024 && i < units.length - 1) return `1.0${units[i + 1]}`;
  return `${whole}${units[i]}`;
}

/** The two lines of `df`: `Size Used Avail Use%` and the values, right-aligned like df -h. */
export function dfLines(st: VfsNumbers): [string, string] {
  const unit = Number(st.f_frsize || st.f_bsize);
  const size = Number(st.f_blocks) * unit;
  const used = (Number(st.f_blocks) - Number(st.f_bfree)) * unit;
  const avail = Number(st.f_bavail) * unit;
  // df: Use% = used / (used + avail), rounded up; '-' when both are 0.
  const pct = used + avail > 0 ? `${Math.ceil((used * 100) / (used + avail) - 1e-9)}%` : '-';
  const cells = [
    ['Size', humanSize(size)],
    ['Used', humanSize(used)],
    ['Avail', humanSize(avail)],
    ['Use%', pct],
  ];
  const widths = cells.map(([h, v]) => Math.max(h!.length, v!.length));
  const line = (k: number) => cells.map((c, i) => c[k]!.padStart(widths[i]!)).join(' ');
  return [line(0), line(1)];
}

/** Names in columns across `width` (ls on a terminal), one per line when they do not fit. */
export function columns(names: string[], width: number): string[] {
  if (names.length === 0) return [];
  const colWidth = Math.max(...names.map((n) => n.length)) + 2;
  const perRow = Math.max(1, Math.floor(width / colWidth));
  if (perRow === 1) return names;
  const rows = Math.ceil(names.length / perRow);
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const cells: string[] = [];
    for (let c = 0; c < perRow; c++) {
      const n = names[c * rows + r];
      if (n !== undefined) cells.push(n.padEnd(colWidth));
    }
    out.push(cells.join('').trimEnd());
  }
  return out;
}

/** Splits a shell line into words: '...' and "..." quotes, backslash escapes; nothing expanded. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') [quote, inWord] = [c, true];
    else if (c === '\\' && i + 1 < line.length) [word, inWord] = [word + line[++i], true];
    else if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      [word, inWord] = ['', false];
    } else [word, inWord] = [word + c, true];
  }
  if (quote) throw new Error(`unterminated ${quote} quote`);
  if (inWord) words.push(word);
  return words;
}

/** Quotes a word so splitWords gives it back (for completion and echoed commands). */
export function quoteWord(word: string): string {
  return /^[\w./:@%+,=~-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
