/**
 * coffer-server: parses the command line (main-options.ts), starts the server, prints the start
 * log, and shuts down cleanly on SIGINT/SIGTERM.
 */
import { relative } from 'node:path';
import { loadConfig, type Config } from '../../config/load.js';
import { packageVersion } from '../../config/paths.js';
import { defaultRouter } from '../../server/routes.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { tuneHeapForBulkData } from '../../util/heap.js';
import { createLogger, type Logger } from '../../util/logger.js';
import { EXIT, parseCommandLine, runProgram } from '../common/run.js';
import { helpText, PROGRAM, serverOptions, settingFlags } from './main-options.js';

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, serverOptions());
  if (values.help) return void process.stdout.write(helpText()), EXIT.ok;
  if (values.version) return void process.stdout.write(`${PROGRAM} ${packageVersion()}\n`), EXIT.ok;
  const config = loadConfig({
    flags: settingFlags(values, argv),
    rootFlag: values.root as string | undefined,
    configFlag: values.config as string | undefined,
    stdoutIsTTY: process.stdout.isTTY === true,
  });
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  tuneHeapForBulkData();
  const server = await startServer(config, { logger: log, router: defaultRouter() });
  logStart(log, config, server);
  await untilSignal(log, server);
  // Everything is closed; should some stray handle keep the loop alive, do not hang on it.
  setTimeout(() => process.exit(EXIT.ok), 1000).unref();
  return EXIT.ok;
}

function logStart(log: Logger, config: Config, server: RunningServer): void {
  const { host, port } = server.address;
  const fingerprints = server.hostKeys.map((k) => ({ type: k.type, fingerprint: k.fingerprint, created: k.created }));
  log.info(
    { event: 'start', address: `${host}:${port}`, host, port, fingerprints, root: config.paths.root, version: packageVersion() },
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

/** Resolves after the first SIGINT/SIGTERM has shut the server down; a second signal exits at once. */
function untilSignal(log: Logger, server: RunningServer): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ event: 'shutdown.forced', signal }, 'second signal: exiting now');
        process.exit(EXIT.failure);
      }
      stopping = true;
      log.info({ event: 'signal', signal }, `${signal} received`);
      server.close().then(resolve, reject);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

runProgram(PROGRAM, main);
