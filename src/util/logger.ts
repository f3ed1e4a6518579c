/**
 * The programs' logger: pino JSON lines on stdout (SPEC §5), or pino-pretty's readable lines when
 * logFormat is 'pretty'. Every line carries an `event` name so operators (and fail2ban) can match
 * on it. Passwords never reach a log call; redactSecrets is a second fence in case one ever does.
 * The pretty format writes each line at once (a person at a terminal); JSON lines are written at
 * the end of the event-loop turn that logged them, and at exit (line-writer.ts).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { stdoutLines } from './line-writer.js';
import type { LogFormat, LogLevel } from './log-levels.js';

export type { Logger } from 'pino';

/** How to build a logger. */
export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go (default: stdout). Tests pass a stream that collects them. */
  destination?: DestinationStream;
  /** Fields on every line (e.g. { program: 'coffer-server' }). */
  base?: Record<string, unknown>;
}

/** Keys whose values are never written, in a logged object or in any object directly inside it. */
const SECRET_KEYS: ReadonlySet<string> = new Set(['password', 'newPassword', 'oldPassword', 'privateKey']);

/** What a secret's value is written as. */
export const REDACTED = '[redacted]';

/**
 * The second fence: `obj` with the value of every key of SECRET_KEYS, at its top level and one
 * level down, replaced by REDACTED (a copy; the caller's objects are never changed). An object
 * with none, every line in practice, is returned as it is.
 *
 * pino's own `redact` option did the same for the same paths, but parsed its paths again and
 * cloned the logged object at every call: with its garbage, most of a transfer line's cost (a
 * line took 17 µs inside the server during a small-file upload; in a loop, 7 µs then, 2.6 now;
 * issue 20).
 */
export function redactSecrets<T extends object>(obj: T): T {
  let out: Record<string, unknown> | null = null;
  for (const key in obj) {
    const value = (obj as Record<string, unknown>)[key];
    let shown = value;
    if (SECRET_KEYS.has(key)) shown = REDACTED;
    else if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
      let inner: Record<string, unknown> | unknown[] | null = null;
      for (const k in value) {
        if (!SECRET_KEYS.has(k)) continue;
        inner ??= Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) };
        (inner as Record<string, unknown>)[k] = REDACTED;
      }
      if (inner) shown = inner;
    }
    if (shown !== value) (out ??= { ...(obj as Record<string, unknown>) })[key] = shown;
  }
  return (out ?? obj) as T;
}

/**
 * pino's timestamp: `,"time":"<ISO 8601 UTC>"`, as stdTimeFunctions.isoTime writes it, from a
 * text of the current second made once per second (a Date and its toISOString per line cost a
 * tenth of a transfer line).
 */
export const isoTimestamp = (() => {
  let second = NaN;
  let prefix = '';
  return (): string => {
    const now = Date.now();
    const ms = now % 1000;
    if (now - ms !== second) {
      second = now - ms;
      prefix = `,"time":"${new Date(second).toISOString().slice(0, 20)}`; // up to and with the '.'
    }
    return `${prefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
  };
})();

/** A pino logger writing JSON lines, or pretty lines when `format` is 'pretty'. */
export function createLogger(opts: LoggerOptions): Logger {
  const options = { level: opts.level, base: opts.base ?? {}, timestamp: isoTimestamp, formatters: { log: redactSecrets, bindings: redactSecrets } };
  if (opts.format === 'pretty') {
    const stream = pretty({ destination: opts.destination ?? 1, sync: true, translateTime: 'SYS:standard', ignore: 'pid,hostname' });
    return fenced(pino(options, stream));
  }
  // JSON lines leave at the end of each event-loop turn, after its replies (line-writer.ts).
  return fenced(pino(options, opts.destination ?? stdoutLines()));
}

/**
 * Puts a child logger's bindings through redactSecrets too (pino applies formatters.bindings to
 * the root's base only). Children are made from their parent by prototype, so they inherit this.
 */
function fenced(root: Logger): Logger {
  const child = root.child;
  root.child = function (this: Logger, bindings, options) {
    return child.call(this, redactSecrets(bindings), options);
  } as Logger['child'];
  return root;
}

/**
 * Makes client-supplied text (user names, commands, identification lines) safe to log: control,
 * line-separator and bidi-formatting characters, lone surrogates and backslashes are written as
 * escapes (`\n`, `\x1b`, `\u202e`, `\\`), so a name cannot forge a line or recolour a terminal
 * in the pretty format, and the result is at most `max` characters, then `...`.
 */
export function clip(text: string, max = 64): string {
  let out = '';
  // By code point, so a surrogate pair is never cut in two; stops early on long input.
  for (const ch of text) {
    const piece = UNSAFE.test(ch) ? escapeChar(ch) : ch;
    if (out.length + piece.length > max) return `${out}...`;
    out += piece;
  }
  return out;
}

// C0, DEL, C1, U+2028/9, bidi marks, embeddings, overrides and isolates, lone surrogates, backslash.
const UNSAFE = /^(?:[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\\]|[\ud800-\udfff])$/;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

function escapeChar(ch: string): string {
  const code = ch.charCodeAt(0);
  return NAMED[ch] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}
