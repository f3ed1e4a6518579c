/**
 * coffer-server's entry point (bin/coffer-server.js imports it). SIGINT and SIGTERM are caught
 * before anything else loads: until a handler exists Node dies by the signal, and loading the
 * server's modules takes ~0.17 s here (0.4-1 s on a busy 2-core machine), a window that a
 * supervisor's stop fell into (the handlers used to be installed only once the server listened).
 */
import { catchStopSignals } from '../common/stop-signals.js';
import { listenForSupervisor } from './cluster-messages.js';

// A second signal exits at once with status 1, as before (README: "a second signal exits at once").
const stop = catchStopSignals('coffer-server', { forcedExitStatus: 1 });
// A cluster worker (workers > 1) is also told to stop by its supervisor (supervisor.ts).
listenForSupervisor(stop);
const { runServer } = await import('./server-program.js');
runServer(stop);
