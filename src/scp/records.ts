/**
 * The records of the scp protocol (OpenSSH scp.c sink() and source()), one line each:
 *   C<mode> <size> <name>   a file follows: <size> bytes, then one status byte
 *   D<mode> 0 <name>        a folder begins (with -r)
 *   E                       the folder ends
 *   T<mtime> 0 <atime> 0    times of the next C or D (with -p)
 *   \x01<message>           an error, the transfer goes on;  \x02<message>  a fatal error
 * Every record and every file is answered with one status byte: \0 (ok) or \x01/\x02 and a line.
 * Modes are four octal digits; names are a single path component.
 */

/** Longest record line accepted, newline included (OpenSSH's sink reads into 2048 bytes). */
export const MAX_RECORD_LENGTH = 4096;
/** Longest name of a file or folder in a record, in UTF-8 bytes (NAME_MAX). */
export const MAX_NAME_BYTES = 255;

/** The status byte that says "ok". */
export const OK = Buffer.from([0]);
/** The record that ends a folder. */
export const END_RECORD = 'E\n';

/** One record received. */
export type ScpRecord =
  | { kind: 'file'; mode: number; size: number; name: string }
  | { kind: 'dir'; mode: number; name: string }
  | { kind: 'end' }
  | { kind: 'times'; mtime: number; atime: number }
  | { kind: 'error'; fatal: boolean; message: string };

/** A record that breaks the protocol; `message` follows "protocol error: " on the wire. */
export class ScpProtocolError extends Error {}

/** A name the sink refuses (`..`, a slash, control characters...). */
export class ScpNameError extends Error {
  constructor(readonly refused: string) {
    super(`error: unexpected filename: ${visible(refused)}`);
  }
}

// C0 controls, DEL, and U+FFFD (what invalid UTF-8 decodes to).
const FORBIDDEN_IN_NAME = /[\u0000-\u001f\u007f\ufffd]/;

/** True when `name` is one path component a record may carry: not '', '.', '..', no '/', no controls. */
export function isValidName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !FORBIDDEN_IN_NAME.test(name) && Buffer.byteLength(name) <= MAX_NAME_BYTES;
}

/** `text` made safe to print on a terminal: controls escaped, at most 200 characters. */
export function visible(text: string): string {
  const clipped = text.length > 200 ? `${text.slice(0, 200)}...` : text;
  return clipped.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Parses one record line (without its newline). Throws ScpProtocolError or ScpNameError. */
export function parseRecord(line: string): ScpRecord {
  const type = line[0];
  const rest = line.slice(1);
  switch (type) {
    case '\x01':
    case '\x02':
      return { kind: 'error', fatal: type === '\x02', message: rest };
    case 'E':
      if (rest !== '') throw new ScpProtocolError('bad end record');
      return { kind: 'end' };
    case 'T':
      return parseTimes(rest);
    case 'C':
    case 'D':
      return parseEntry(type, rest);
    case undefined:
      throw new ScpProtocolError('unexpected <newline>');
    default:
      throw new ScpProtocolError('expected control record');
  }
}

/** `<mtime> <usec> <atime> <usec>`, each a decimal number, microseconds below 1000000. */
function parseTimes(rest: string): ScpRecord {
  const m = /^(\d{1,15}) (\d{1,6}) (\d{1,15}) (\d{1,6})$/.exec(rest);
  if (!m) throw new ScpProtocolError('bad time record');
  return { kind: 'times', mtime: Number(m[1]), atime: Number(m[3]) };
}

/**
 * `<4 octal digits> <size> <name>` of a C or D record, refused with OpenSSH sink()'s messages. The
 * size is decimal digits (no sign: `-1` and `+5` have no size), leading zeros allowed as strtoull
 * allows them, at most 2^53 - 1.
 */
function parseEntry(type: 'C' | 'D', rest: string): ScpRecord {
  if (!/^[0-7]{4}/.test(rest)) throw new ScpProtocolError('bad mode');
  if (rest[4] !== ' ') throw new ScpProtocolError('mode not delimited');
  const digits = /^\d*/.exec(rest.slice(5))![0];
  if (digits === '') throw new ScpProtocolError('size not present');
  const end = 5 + digits.length;
  if (rest[end] !== ' ') throw new ScpProtocolError('size not delimited');
  const significant = digits.replace(/^0+(?=\d)/, '');
  const size = Number(significant);
  if (significant.length > 16 || !Number.isSafeInteger(size)) throw new ScpProtocolError('size out of range');
  const name = rest.slice(end + 1);
  if (!isValidName(name)) throw new ScpNameError(name);
  const mode = parseInt(rest.slice(0, 4), 8);
  return type === 'C' ? { kind: 'file', mode, size, name } : { kind: 'dir', mode, name };
}

const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(4, '0');

/** The C record of a file (mode masked to 0777: no setuid, setgid or sticky bits). */
export function fileRecord(mode: number, size: number, name: string): string {
  return `C${octal(mode)} ${size} ${name}\n`;
}

/** The D record of a folder (mode masked to 0777). */
export function dirRecord(mode: number, name: string): string {
  return `D${octal(mode)} 0 ${name}\n`;
}

/** The T record, in whole seconds (as OpenSSH sends it). */
export function timesRecord(mtime: number, atime: number): string {
  return `T${Math.max(0, Math.floor(mtime))} 0 ${Math.max(0, Math.floor(atime))} 0\n`;
}

/** An error line: `\x01scp: message` (the transfer goes on) or `\x02...` (fatal), one line. */
export function errorRecord(message: string, fatal = false): string {
  return `${fatal ? '\x02' : '\x01'}scp: ${message.replace(/[\r\n]/g, ' ')}\n`;
}
