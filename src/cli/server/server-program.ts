/**
 * coffer-server: parses the command line (main-options.ts), starts the server, prints the start
 * log, and shuts down cleanly on SIGINT/SIGTERM, including one that comes while it starts (the
 * handlers are main.ts's, installed before this module loads).
 */
import { relative } from 'node:path';
import { loadConfig, type Config } from '../../config/load.js';
import { packageVersion } from '../../config/paths.js';
import { defaultRouter } from '../../server/routes.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { tuneHeapForBulkData } from '../../util/heap.js';
import { createLogger, type Logger } from '../../util/logger.js';
import { EXIT, parseCommandLine, runProgram } from '../common/run.js';
import type { StopSignals } from '../common/stop-signals.js';
import { helpText, PROGRAM, serverOptions, settingFlags } from './main-options.js';
import { reportReady, workerId } from './cluster-messages.js';
import { runSupervisor } from './supervisor.js';

/** Runs coffer-server; `stop` is aborted by the first SIGINT/SIGTERM, whenever it comes. */
export function runServer(stop: StopSignals): void {
  // Everything is closed when main settles; a stray handle must not keep the process up.
  runProgram(PROGRAM, (argv) => main(argv, stop), { exitWhenDone: true });
}

async function main(argv: string[], stop: StopSignals): Promise<number> {
  const { values } = parseCommandLine(argv, serverOptions());
  if (values.help) return void process.stdout.write(helpText()), EXIT.ok;
  if (values.version) return void process.stdout.write(`${PROGRAM} ${packageVersion()}\n`), EXIT.ok;
  const config = loadConfig({
    flags: settingFlags(values, argv),
    rootFlag: values.root as string | undefined,
    configFlag: values.config as string | undefined,
    stdoutIsTTY: process.stdout.isTTY === true,
  });
  // Lines are written at the end of each turn and at exit (logger.ts), so these are out before any exit.
  // Every line says which process wrote it: 0 = the supervisor or the only process, N = worker N.
  const worker = workerId();
  const log = createLogger({ level: config.logLevel, format: config.logFormat, base: { worker } });
  stop.onStop((signal) => log.info({ event: 'signal', signal }, `${signal} received`));
  stop.onForced((signal) => log.warn({ event: 'shutdown.forced', signal }, 'second signal: exiting now'));
  if (worker === 0 && config.workers > 1) return runSupervisor(config, log, stop);
  tuneHeapForBulkData();
  let server: RunningServer;
  try {
    server = await startServer(config, { logger: log, router: defaultRouter(), signal: stop.signal });
  } catch (err) {
    // Stopped while starting: what it opened is closed and `shutdown.done` logged.
    if (stop.signal.aborted && err === stop.signal.reason) return EXIT.ok;
    throw err;
  }
  logStart(log, config, server);
  // The start line leaves now, not within the line writer's 20 ms: a worker's `start` must come
  // before the supervisor's `worker.ready` for it, which the message below makes it log.
  log.flush();
  reportReady();
  await aborted(stop.signal);
  await server.close();
  return EXIT.ok;
}

function logStart(log: Logger, config: Config, server: RunningServer): void {
  const { host, port } = server.address;
  const fingerprints = server.hostKeys.map((k) => ({ type: k.type, fingerprint: k.fingerprint, created: k.created }));
  log.info(
    { event: 'start', address: `${host}:${port}`, host, port, pid: process.pid, fingerprints, root: config.paths.root, version: packageVersion() },
    `listening on ${host}:${port}; host keys ${fingerprints.map((f) => `${f.type} ${f.fingerprint}`).join(', ')}`,
  );
  if (server.userCount === 0) {
    const rel = relative(process.cwd(), config.paths.root);
    const rootArg = rel === '' ? '' : ` --root ${rel.startsWith('..') ? config.paths.root : rel}`;
    log.info(
      { event: 'no-users', hint: `coffer-users${rootArg} add NAME` },
      `no users yet: add one with 'node bin/coffer-users.js${rootArg} add NAME' (or 'coffer-users${rootArg} add NAME' when installed)`,
    );
  }
}

/** Resolves once `signal` has aborted. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
