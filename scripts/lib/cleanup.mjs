// What a measurement script started or made, undone on exit, on failure and on a signal: helper
// processes are killed, servers stopped by their PID (SIGTERM, then SIGKILL), then the registered
// steps (temp folders, cgroups) run, the last registered first.
import { rmSync } from 'node:fs';
import { killNow, stopProcess } from './process.mjs';

const children = new Set();
const servers = new Set();
const steps = [];
let running = null;
let interrupted = false;

/** Registers a helper process (a client, a driver): SIGKILLed by any cleanup. */
export function trackChild(p) { children.add(p); return p; }

/** Forgets a helper process (it exited). */
export function untrackChild(p) { children.delete(p); }

/** Registers a server process: cleanup() gives it SIGTERM and a grace time, cleanupSync() SIGKILL. */
export function trackServer(p) { servers.add(p); return p; }

/** Forgets a server process (the script stopped it itself). */
export function untrackServer(p) { servers.delete(p); }

/**
 * Registers a cleanup step, run after the processes are gone, last registered first; errors are
 * ignored. cleanup() awaits later(), when given, instead of now() (e.g. to retry).
 */
export function onCleanup(now, later = null) { steps.push({ now, later }); }

/** Registers a folder to remove recursively at cleanup. */
export function removeOnCleanup(dir) { onCleanup(() => rmSync(dir, { recursive: true, force: true })); }

/** True once a signal asked the script to stop (new work should not start). */
export function isInterrupted() { return interrupted; }

/** Kills everything still registered and runs every step, at once (for exit paths that cannot wait). */
export function cleanupSync() {
  for (const c of children) killNow(c);
  for (const s of servers) killNow(s);
  children.clear();
  servers.clear();
  for (const s of steps.splice(0).reverse()) { try { s.now(); } catch { /* best effort */ } }
}

/** Kills the helpers, stops the servers (SIGTERM, SIGKILL after graceMs), then runs the steps. Once. */
export function cleanup(graceMs = 5000) {
  running ??= (async () => {
    for (const c of children) killNow(c);
    children.clear();
    await Promise.all([...servers].map((s) => stopProcess(s, graceMs)));
    servers.clear();
    for (const s of steps.splice(0).reverse()) { try { await (s.later ?? s.now)(); } catch { /* best effort */ } }
  })();
  return running;
}

/**
 * Makes SIGINT, SIGTERM and SIGHUP stop the script: `NAME: SIG: WHAT...` on stderr, cleanup(), exit
 * 130; a second signal cleans up at once. Also runs cleanupSync() at any process exit.
 */
export function installCleanup(name, what) {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      if (interrupted) { cleanupSync(); process.exit(130); }
      interrupted = true;
      process.stderr.write(`\n${name}: ${sig}: ${what}...\n`);
      cleanup().finally(() => { cleanupSync(); process.exit(130); });
    });
  }
  process.on('exit', cleanupSync);
}
