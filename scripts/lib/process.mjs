// Child processes for the measurement scripts (bench.mjs, bench-client.mjs, load.mjs): running a
// command to completion, stopping a server by its PID, free ports, line-wise output.
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

/** A failure worth one line (no stack): the scripts print its message and exit 1. */
export class ScriptError extends Error {}

/** Resolves after ms milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Writes msg and a newline to stderr (progress; stdout is the report). */
export const log = (msg) => process.stderr.write(msg + '\n');

/**
 * Runs cmd to completion (spawnSync, utf8); returns the result. Throws ScriptError when it cannot
 * start, or when it exits non-zero unless opts.allowFail.
 */
export function run(cmd, args, opts = {}) {
  const { allowFail, ...spawnOpts } = opts;
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...spawnOpts });
  if (r.error) throw new ScriptError(`${cmd}: ${r.error.message}`);
  if (r.status !== 0 && !allowFail) throw new ScriptError(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout || '').trim()}`);
  return r;
}

/** True when cmd is found on PATH (sh's `command -v`). */
export function onPath(cmd) {
  return spawnSync('sh', ['-c', 'command -v "$0"', cmd], { stdio: 'ignore' }).status === 0;
}

/** True while a ChildProcess has neither exited nor been killed by a signal. */
export function alive(p) {
  return Boolean(p) && p.exitCode === null && p.signalCode === null;
}

/** SIGKILLs a ChildProcess by its PID if it is still alive (for exit paths that cannot wait). */
export function killNow(p) {
  if (alive(p)) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
}

/**
 * Stops a ChildProcess by its PID: SIGTERM, then SIGKILL after graceMs. Resolves with its exit
 * signal or code, 'killed after timeout', or its earlier exit code (null if none) when not alive.
 */
export async function stopProcess(p, graceMs = 10_000) {
  if (!alive(p)) return p?.exitCode ?? null;
  const exited = new Promise((r) => p.once('exit', (code, signal) => r(signal ?? code)));
  try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ }
  const r = await Promise.race([exited, sleep(graceMs).then(() => 'timeout')]);
  if (r !== 'timeout') return r;
  try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
  await exited;
  return 'killed after timeout';
}

/** A TCP port free on 127.0.0.1 a moment ago (for servers that cannot listen on port 0). */
export function freePort() {
  return new Promise((resolveP, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolveP(port));
    });
  });
}

/** Calls onLine(line) for each complete line of a readable stream (utf8, without the '\n'). */
export function readLines(stream, onLine) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      onLine(line);
    }
  });
}
