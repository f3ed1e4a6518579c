/**
 * The logger's levels and formats: defined beside the logger, below config/ (which offers them as
 * the logLevel and logFormat settings), so util/ never imports a layer above it. No pino here, so
 * reading the settings table does not load the logger.
 */

/** pino's levels, most severe first, and 'silent'. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** One of LOG_LEVELS. */
export type LogLevel = (typeof LOG_LEVELS)[number];
/** JSON lines (SPEC §5) or pino-pretty's readable lines. */
export type LogFormat = 'json' | 'pretty';
