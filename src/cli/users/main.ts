/**
 * coffer-users' entry point (bin/coffer-users.js imports it). SIGINT and SIGTERM are caught before
 * anything else loads, so that a signal at any moment ends the command at its next step with the
 * database closed (users-program.ts), instead of killing it by Node's default.
 */
import { catchStopSignals } from '../common/stop-signals.js';

// A second signal exits at once, with the same status: 128 + the signal's number.
const stop = catchStopSignals('coffer-users', { forcedExitStatus: 'signal' });
const { runUsers } = await import('./users-program.js');
runUsers(stop);
