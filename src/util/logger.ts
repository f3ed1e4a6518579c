/**
 * The programs' logger: pino JSON lines on stdout (SPEC §5), or pino-pretty's readable lines when
 * logFormat is 'pretty'. Every line carries an `event` name so operators (and fail2ban) can match
 * on it. Passwords never reach a log call; redactSecretKeys (redact.ts) is a second fence in case
 * one ever does.
 * The pretty format writes each line at once (a person at a terminal); JSON lines are written at
 * the end of the event-loop turn that logged them, and at exit (line-writer.ts).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { stdoutLines } from './line-writer.js';
import { redactSecretKeys } from './redact.js';
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
  const options = { level: opts.level, base: opts.base ?? {}, timestamp: isoTimestamp, formatters: { log: redactSecretKeys, bindings: redactSecretKeys } };
  if (opts.format === 'pretty') {
    const stream = pretty({ destination: opts.destination ?? 1, sync: true, translateTime: 'SYS:standard', ignore: 'pid,hostname' });
    return fenced(pino(options, stream));
  }
  // JSON lines leave at the end of each event-loop turn, after its replies (line-writer.ts).
  return fenced(pino(options, opts.destination ?? stdoutLines()));
}

/**
 * Puts a child logger's bindings through redactSecretKeys too (pino applies formatters.bindings to
 * the root's base only). Children are made from their parent by prototype, so they inherit this.
 */
function fenced(root: Logger): Logger {
  const child = root.child;
  root.child = function (this: Logger, bindings, options) {
    return child.call(this, redactSecretKeys(bindings), options);
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
