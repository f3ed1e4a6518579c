/**
 * SIGINT and SIGTERM, caught from a program's first moment. Until a handler is installed, Node's
 * default is to die by the signal, whatever the program had open: a supervisor stopping a server
 * that was still starting left its database unclosed. So each program's entry point installs
 * these handlers before it loads anything else (this module imports nothing but node:os), and
 * the program's work watches the AbortSignal.
 *
 * The first signal aborts the signal; what that means is the program's to decide (coffer-server
 * stops its start or its sessions and exits 0; coffer-users stops its command at the next step).
 * A second signal exits at once, as the README promises.
 */
import { constants } from 'node:os';

/** The signals that ask a program to stop. */
export type StopSignalName = 'SIGINT' | 'SIGTERM';

const STOP_SIGNALS: readonly StopSignalName[] = ['SIGINT', 'SIGTERM'];

/**
 * The reason of an aborted stop signal: the program was asked to stop. Its exit status is 128 +
 * the signal's number (130 for SIGINT, 143 for SIGTERM), what shells report for a command that a
 * signal ended; `detail` says what the interrupted work left behind.
 */
export class StopRequested extends Error {
  readonly code = 'COFFER_STOPPED';

  constructor(
    readonly signal: StopSignalName,
    readonly detail?: string,
  ) {
    super(detail ? `interrupted by ${signal}; ${detail}` : `interrupted by ${signal}`);
  }

  /** 128 + the signal's number. */
  get exitStatus(): number {
    return 128 + constants.signals[this.signal];
  }

  /** The same stop, saying what the interrupted work left behind. */
  withDetail(detail: string): StopRequested {
    return new StopRequested(this.signal, detail);
  }
}

/** A program's view of the stop signals. */
export interface StopSignals {
  /** Aborted by the first SIGINT or SIGTERM, with a StopRequested as its reason. */
  readonly signal: AbortSignal;
  /** Calls `fn` with the signal's name at the first signal, or at once if it has come already. */
  onStop(fn: (name: StopSignalName) => void): void;
  /** What a second signal does before the program exits (default: one line on stderr). */
  onForced(fn: (name: StopSignalName) => void): void;
  /**
   * Asks for the stop as if `name` had arrived, without counting as a signal: a worker told to
   * stop by its supervisor (which also may get the terminal's SIGINT itself, before or after the
   * supervisor's message) is not forced out; only a second real signal forces it.
   */
  request(name: StopSignalName): void;
}

/** Options of catchStopSignals. */
export interface CatchOptions {
  /** The exit status after a second signal: a number, or 'signal' for 128 + the signal's number. */
  forcedExitStatus: number | 'signal';
}

/** Installs the SIGINT and SIGTERM handlers now; call it first in a program's entry point. */
export function catchStopSignals(program: string, options: CatchOptions): StopSignals {
  const controller = new AbortController();
  // SPEC §2's one-line error format, until the program has a better place (the server's log).
  let forced: (name: StopSignalName) => void = (name) => process.stderr.write(`${program}: error: second ${name}: exiting at once\n`);
  // Signals that really came, apart from request(): the second of those forces the exit. A stop
  // asked through request() (a worker told by its supervisor) does not count, whichever comes
  // first: under load the supervisor's message can overtake the worker's own copy of a terminal's
  // SIGINT, which must still be taken as the first signal (found by the workers test under load).
  let received = 0;
  const onSignal = (name: StopSignalName) => {
    received += 1;
    if (received > 1) {
      forced(name);
      return process.exit(options.forcedExitStatus === 'signal' ? new StopRequested(name).exitStatus : options.forcedExitStatus);
    }
    if (!controller.signal.aborted) controller.abort(new StopRequested(name));
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  const signal = controller.signal;
  return {
    signal,
    onStop(fn) {
      const name = () => (signal.reason as StopRequested).signal;
      if (signal.aborted) fn(name());
      else signal.addEventListener('abort', () => fn(name()), { once: true });
    },
    onForced(fn) {
      forced = fn;
    },
    request(name) {
      if (!controller.signal.aborted) controller.abort(new StopRequested(name));
    },
  };
}
