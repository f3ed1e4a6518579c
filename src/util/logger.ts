/**
 * The programs' logger: pino JSON lines on stdout (SPEC §5), or pino-pretty's readable lines when
 * logFormat is 'pretty'. Every line carries an `event` name so operators (and fail2ban) can match
 * on it. Passwords never reach a log call; `redact` is a second fence in case one ever does.
 */
import { pino, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogFormat, LogLevel } from '../config/settings.js';

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

/** Keys that are never written, whatever object is logged. */
const REDACT = ['password', 'newPassword', 'oldPassword', 'privateKey', '*.password', '*.privateKey'];

/** A pino logger writing JSON lines, or pretty lines when `format` is 'pretty'. */
export function createLogger(opts: LoggerOptions): Logger {
  const options = {
    level: opts.level,
    base: opts.base ?? {},
    timestamp: stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: '[redacted]' },
  };
  if (opts.format === 'pretty') {
    const stream = pretty({ destination: opts.destination ?? 1, sync: true, translateTime: 'SYS:standard', ignore: 'pid,hostname' });
    return pino(options, stream);
  }
  return pino(options, opts.destination ?? pino.destination({ dest: 1, sync: true }));
}

/** Shortens client-supplied text (user names, commands) before it is logged. */
export function clip(text: string, max = 64): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}
